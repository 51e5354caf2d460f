//! WAV files in memory, for prompts and the DSP tools: 8 kHz mono, 16-bit PCM or 8-bit
//! G.711.
//!
//! Not a real-time block: parsing allocates the samples, and is done when a prompt is
//! loaded, never on a tick. Done here rather than with `hound` because telephony WAVs are
//! as often μ-law (format tag 7) or A-law (6) as PCM, and hound reads neither (the daemon
//! writes its recordings with hound). The reader walks the RIFF chunks, so `LIST`, `fact`
//! and other chunks in any order are skipped; a truncated `data` chunk is read up to the
//! end of the file (recorders killed mid-call leave those), but a file cut inside its
//! header is an error.

use std::fmt;

/// What the tools accept, for error messages.
pub const EXPECTED: &str =
    "8000 Hz mono, 16-bit PCM or 8-bit mu-law/A-law (WAV format tag 1, 7 or 6)";

/// Sample encoding of a WAV file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// 16-bit little-endian linear PCM (format tag 1).
    Pcm16,
    /// 8-bit μ-law (format tag 7).
    MuLaw,
    /// 8-bit A-law (format tag 6).
    ALaw,
}

/// A WAV file that cannot be used, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WavError {
    /// Not a RIFF/WAVE file at all.
    NotWav,
    /// The file ends inside a header or chunk header.
    Truncated {
        /// What was being read.
        reading: &'static str,
    },
    /// A `data` chunk before any `fmt ` chunk, or none at all.
    MissingChunk {
        /// Which chunk.
        chunk: &'static str,
    },
    /// The `fmt ` chunk is too short for its format.
    BadFmt {
        /// Its length.
        len: u32,
    },
    /// A format that the tools do not take.
    Unsupported {
        /// Format tag.
        tag: u16,
        /// Channels.
        channels: u16,
        /// Sample rate.
        rate: u32,
        /// Bits per sample.
        bits: u16,
    },
}

impl fmt::Display for WavError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotWav => write!(
                f,
                "not a WAV file (no RIFF/WAVE header); expected {EXPECTED}"
            ),
            Self::Truncated { reading } => {
                write!(
                    f,
                    "file ends inside the {reading}; expected a complete WAV file, {EXPECTED}"
                )
            }
            Self::MissingChunk { chunk } => write!(
                f,
                "no '{chunk}' chunk found (a chunk before it may be cut short or miss its pad \
                 byte); expected a WAV file, {EXPECTED}"
            ),
            Self::BadFmt { len } => {
                write!(
                    f,
                    "'fmt ' chunk of {len} bytes is too short; expected {EXPECTED}"
                )
            }
            Self::Unsupported {
                tag,
                channels,
                rate,
                bits,
            } => {
                let kind = match tag {
                    1 => "PCM".to_string(),
                    3 => "float".to_string(),
                    6 => "A-law".to_string(),
                    7 => "mu-law".to_string(),
                    t => format!("format tag {t}"),
                };
                let ch = if *channels == 1 {
                    "mono".to_string()
                } else {
                    format!("{channels} channels")
                };
                write!(f, "{rate} Hz {ch} {bits}-bit {kind}; expected {EXPECTED}")
            }
        }
    }
}

impl std::error::Error for WavError {}

/// A decoded WAV file.
#[derive(Debug, Clone, PartialEq)]
pub struct Wav {
    /// How the samples were stored.
    pub encoding: Encoding,
    /// Samples as 16-bit linear (G.711 decoded).
    pub samples: Vec<i16>,
    /// True when the data chunk claimed more bytes than the file holds.
    pub truncated: bool,
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    b.get(at..at + 2).map(|s| u16::from_le_bytes([s[0], s[1]]))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 4)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

/// Parses a WAV file held in memory.
///
/// # Errors
/// [`WavError`] says what is wrong, naming the format found and the formats expected.
pub fn parse(bytes: &[u8]) -> Result<Wav, WavError> {
    if bytes.len() < 12 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return Err(WavError::NotWav);
    }
    let mut at = 12usize;
    let mut format: Option<Encoding> = None;
    loop {
        let Some(id) = bytes.get(at..at + 4) else {
            return Err(if format.is_some() {
                WavError::MissingChunk { chunk: "data" }
            } else {
                WavError::MissingChunk { chunk: "fmt " }
            });
        };
        let len = u32_at(bytes, at + 4).ok_or(WavError::Truncated {
            reading: "chunk header",
        })?;
        let body = at + 8;
        match id {
            b"fmt " => {
                let b = bytes.get(body..).unwrap_or(&[]);
                if b.len() < 16 {
                    return Err(if (len as usize) < 16 {
                        WavError::BadFmt { len }
                    } else {
                        WavError::Truncated {
                            reading: "'fmt ' chunk",
                        }
                    });
                }
                if len < 16 {
                    return Err(WavError::BadFmt { len });
                }
                let mut tag = u16_at(b, 0).unwrap_or(0);
                let channels = u16_at(b, 2).unwrap_or(0);
                let rate = u32_at(b, 4).unwrap_or(0);
                let bits = u16_at(b, 14).unwrap_or(0);
                if tag == 0xFFFE {
                    // WAVE_FORMAT_EXTENSIBLE: the real tag leads the sub-format GUID.
                    if len < 40 || b.len() < 40 {
                        return Err(WavError::BadFmt { len });
                    }
                    tag = u16_at(b, 24).unwrap_or(0);
                }
                format = match (tag, channels, rate, bits) {
                    (1, 1, 8000, 16) => Some(Encoding::Pcm16),
                    (7, 1, 8000, 8) => Some(Encoding::MuLaw),
                    (6, 1, 8000, 8) => Some(Encoding::ALaw),
                    _ => {
                        return Err(WavError::Unsupported {
                            tag,
                            channels,
                            rate,
                            bits,
                        });
                    }
                };
            }
            b"data" => {
                let Some(enc) = format else {
                    return Err(WavError::MissingChunk { chunk: "fmt " });
                };
                let avail = bytes.len().saturating_sub(body);
                let want = len as usize;
                let truncated = want > avail;
                let data = &bytes[body.min(bytes.len())..body + want.min(avail)];
                let samples = match enc {
                    Encoding::Pcm16 => data
                        .chunks_exact(2)
                        .map(|c| i16::from_le_bytes([c[0], c[1]]))
                        .collect(),
                    Encoding::MuLaw => data
                        .iter()
                        .map(|&c| crate::g711::ulaw_to_linear(c))
                        .collect(),
                    Encoding::ALaw => data
                        .iter()
                        .map(|&c| crate::g711::alaw_to_linear(c))
                        .collect(),
                };
                return Ok(Wav {
                    encoding: enc,
                    samples,
                    truncated,
                });
            }
            _ => {}
        }
        // Chunks are padded to even length.
        at = body
            .saturating_add(len as usize)
            .saturating_add(len as usize & 1);
    }
}

/// Builds the bytes of a WAV file (tests and tools).
pub fn build(encoding: Encoding, samples: &[i16]) -> Vec<u8> {
    let (tag, bits, data): (u16, u16, Vec<u8>) = match encoding {
        Encoding::Pcm16 => (
            1,
            16,
            samples.iter().flat_map(|s| s.to_le_bytes()).collect(),
        ),
        Encoding::MuLaw => (
            7,
            8,
            samples
                .iter()
                .map(|&s| crate::g711::linear_to_ulaw(s))
                .collect(),
        ),
        Encoding::ALaw => (
            6,
            8,
            samples
                .iter()
                .map(|&s| crate::g711::linear_to_alaw(s))
                .collect(),
        ),
    };
    let block = bits / 8;
    let mut b = Vec::with_capacity(44 + data.len());
    b.extend_from_slice(b"RIFF");
    b.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    b.extend_from_slice(b"WAVEfmt ");
    b.extend_from_slice(&16u32.to_le_bytes());
    b.extend_from_slice(&tag.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&8000u32.to_le_bytes());
    b.extend_from_slice(&(8000 * u32::from(block)).to_le_bytes());
    b.extend_from_slice(&block.to_le_bytes());
    b.extend_from_slice(&bits.to_le_bytes());
    b.extend_from_slice(b"data");
    b.extend_from_slice(&(data.len() as u32).to_le_bytes());
    b.extend_from_slice(&data);
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_all_three_encodings() {
        let x: Vec<i16> = (0..500)
            .map(|i| ((i * 131) % 20_000 - 10_000) as i16)
            .collect();
        for enc in [Encoding::Pcm16, Encoding::MuLaw, Encoding::ALaw] {
            let w = parse(&build(enc, &x)).unwrap();
            assert_eq!(w.encoding, enc);
            assert_eq!(w.samples.len(), 500);
            assert!(!w.truncated);
            if enc == Encoding::Pcm16 {
                assert_eq!(w.samples, x);
            }
        }
    }

    #[test]
    fn wrong_formats_name_what_was_found_and_expected() {
        let mut b = build(Encoding::Pcm16, &[0; 10]);
        b[24..28].copy_from_slice(&44_100u32.to_le_bytes());
        let e = parse(&b).unwrap_err().to_string();
        assert!(
            e.starts_with("44100 Hz mono 16-bit PCM; expected 8000 Hz mono"),
            "{e}"
        );
        let mut b = build(Encoding::Pcm16, &[0; 10]);
        b[22] = 2;
        assert!(parse(&b).unwrap_err().to_string().contains("2 channels"));
        assert_eq!(parse(b"hello"), Err(WavError::NotWav));
        let b = build(Encoding::MuLaw, &[0; 10]);
        assert_eq!(
            parse(&b[..30]),
            Err(WavError::Truncated {
                reading: "'fmt ' chunk"
            })
        );
        assert_eq!(
            parse(&b[..36]),
            Err(WavError::MissingChunk { chunk: "data" })
        );
        assert_eq!(
            parse(&b[..40]),
            Err(WavError::Truncated {
                reading: "chunk header"
            })
        );
    }

    #[test]
    fn extra_chunks_and_truncated_data() {
        let mut b = build(Encoding::Pcm16, &[5; 100]);
        // Insert an odd-length LIST chunk (padded) before data.
        let list = [b"LIST".as_slice(), &3u32.to_le_bytes(), b"abc\0"].concat();
        b.splice(36..36, list);
        let w = parse(&b).unwrap();
        assert_eq!(w.samples, vec![5; 100]);
        let cut = parse(&b[..b.len() - 11]).unwrap();
        assert!(cut.truncated);
        assert_eq!(cut.samples.len(), 94);
    }

    mod prop {
        use super::*;
        use proptest::prelude::*;
        proptest! {
            #[test]
            fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..300)) {
                let _ = parse(&b);
                let mut w = build(Encoding::ALaw, &[0; 8]);
                w.extend_from_slice(&b);
                let _ = parse(&w);
                let mut h = b"RIFF\0\0\0\0WAVE".to_vec();
                h.extend_from_slice(&b);
                let _ = parse(&h);
            }
        }
    }
}
