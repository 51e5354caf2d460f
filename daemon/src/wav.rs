//! WAV files for the DSP tools, prompts and recordings: the parser is the DSP core's
//! ([`tipring_dsp::wav`], re-exported here); reading a path and writing 16-bit PCM (with
//! hound) are here.

use std::path::Path;
pub use tipring_dsp::wav::{EXPECTED, Encoding, Wav, WavError, build, parse};

/// Reads and parses a WAV file.
///
/// # Errors
/// The file cannot be read, or [`parse`] refuses it; the message starts with the path.
pub fn read(path: &Path) -> Result<Wav, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    parse(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

/// Writes 8 kHz mono 16-bit PCM.
///
/// # Errors
/// The file cannot be created or written; the message starts with the path.
pub fn write(path: &Path, samples: &[i16]) -> Result<(), String> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let err = |e: hound::Error| format!("{}: {e}", path.display());
    let mut w = hound::WavWriter::create(path, spec).map_err(err)?;
    for &s in samples {
        w.write_sample(s).map_err(err)?;
    }
    w.finalize().map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hound_output_is_read_back() {
        let dir = std::env::temp_dir().join(format!("tipring-wav-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("a.wav");
        write(&p, &[1, -2, 300, i16::MIN, i16::MAX]).unwrap();
        assert_eq!(
            read(&p).unwrap().samples,
            vec![1, -2, 300, i16::MIN, i16::MAX]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
