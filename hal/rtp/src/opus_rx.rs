//! Opus reception (feature `opus`): decoding in timeline order into the jitter buffer.
//!
//! # What does it do?
//! Decodes a call's Opus packets (RFC 7587) at 8 kHz into the jitter buffer and conceals
//! what is missing with libopus's own concealment, which knows the codec's state far better
//! than a waveform repeater. When the packet after a one-frame gap carries in-band FEC, the
//! lost frame is rebuilt from it instead.
//!
//! # How does it work?
//! An Opus decoder is a state machine that must see the stream in order: packet, packet,
//! "lost", packet… So packets are decoded as they arrive, and a gap before an arriving
//! packet is concealed (or FEC-decoded) first. When the playout point reaches audio that has
//! not arrived, [`OpusRx::fill_until`] conceals it. `next` is the position up to which the
//! decoder has produced audio; a packet that starts before it arrived too late for the
//! decoder and is dropped (reordered Opus packets count as late: there is no stash). Gaps of
//! more than 60 ms are not concealed: the decoder is reset and skips them.
//!
//! A packet's duration is read from its table-of-contents byte (RFC 6716 §3.1) before
//! anything is decoded, so placing it in the buffer does not disturb the decoder.

use crate::jitter::{JitterBuffer, Squelch};
use tipring_dsp::opus::{OpusDecoder, OpusError};

/// Samples at 8 kHz of one concealment frame (10 ms).
const FRAME: usize = 80;
/// Longest packet, 120 ms at 8 kHz (RFC 6716 §3.2.5).
pub const MAX_SAMPLES: usize = 960;
/// Longest gap concealed; longer ones reset the decoder.
const MAX_GAP: i64 = 480;

/// Duration of an Opus packet in 8 kHz samples, from its TOC byte (RFC 6716 §3.1).
///
/// # Errors
/// [`OpusError::EmptyPacket`] or [`OpusError::InvalidPacket`] (code 3 without its count
/// byte, zero frames, or more than 120 ms).
pub fn packet_samples(packet: &[u8]) -> Result<usize, OpusError> {
    let &toc = packet.first().ok_or(OpusError::EmptyPacket)?;
    let config = toc >> 3;
    // Frame duration in units of 2.5 ms (20 samples at 8 kHz).
    let units = match config {
        0..=11 => [4usize, 8, 16, 24][usize::from(config % 4)],
        12..=15 => [4, 8][usize::from(config % 2)],
        _ => [1, 2, 4, 8][usize::from(config % 4)],
    };
    let frames = match toc & 3 {
        0 => 1,
        1 | 2 => 2,
        _ => usize::from(*packet.get(1).ok_or(OpusError::InvalidPacket)? & 0x3F),
    };
    let samples = units * 20 * frames;
    if frames == 0 || samples > MAX_SAMPLES {
        return Err(OpusError::InvalidPacket);
    }
    Ok(samples)
}

/// The Opus decoding state of a receiver.
#[derive(Debug)]
pub struct OpusRx {
    dec: OpusDecoder,
    /// Position up to which the decoder has produced audio.
    next: Option<i64>,
    scratch: Box<[i16]>,
    /// Samples concealed by the decoder (and rebuilt from FEC).
    pub concealed: u64,
    /// Frames rebuilt from in-band FEC.
    pub fec_frames: u64,
}

impl OpusRx {
    /// A decoder at 8 kHz.
    ///
    /// # Errors
    /// If libopus cannot create it.
    pub fn new() -> Result<Self, OpusError> {
        Ok(Self {
            dec: OpusDecoder::new(8_000, 10)?,
            next: None,
            scratch: vec![0; MAX_SAMPLES].into_boxed_slice(),
            concealed: 0,
            fec_frames: 0,
        })
    }

    /// Forgets the stream position (a new or resynchronised stream).
    pub fn restart(&mut self) {
        self.next = None;
        // Resetting libopus state does not allocate (OPUS_RESET_STATE).
        let _ = self.dec.reset();
    }

    /// Whether a packet at `pos` is too late for the decoder.
    pub fn is_late(&self, pos: i64) -> bool {
        self.next.is_some_and(|next| pos < next)
    }

    /// Decodes `packet` (lasting `len` samples) at `pos` into `jb`, concealing any gap first.
    ///
    /// # Errors
    /// If libopus refuses the packet (the gap before it is still concealed).
    pub fn decode(
        &mut self,
        jb: &mut JitterBuffer,
        pos: i64,
        len: usize,
        packet: &[u8],
    ) -> Result<(), OpusError> {
        if let Some(next) = self.next {
            let gap = pos - next;
            if gap > MAX_GAP {
                let _ = self.dec.reset();
            } else if gap > 0 {
                // Conceal all but the last frame, then rebuild that one from FEC.
                let fec = gap >= FRAME as i64;
                self.conceal(jb, next, pos - if fec { FRAME as i64 } else { 0 });
                if fec {
                    let at = pos - FRAME as i64;
                    let out = &mut self.scratch[..FRAME];
                    if self.dec.decode_fec(packet, out).is_ok() {
                        jb.write(at, FRAME, |dst, off| {
                            dst.copy_from_slice(&out[off..off + dst.len()])
                        });
                        self.fec_frames += 1;
                        self.concealed += FRAME as u64;
                    }
                }
            }
        }
        self.next = Some(pos + len as i64);
        let n = self.dec.decode(packet, &mut self.scratch)?;
        let out = &self.scratch[..n];
        jb.write(pos, n, |dst, off| {
            dst.copy_from_slice(&out[off..off + dst.len()])
        });
        Ok(())
    }

    /// Conceals whatever has not been decoded before `until`, unless telephone events cover
    /// it (the sender sent events instead of audio: the buffer plays silence); returns the
    /// samples concealed at or after the playout point.
    pub fn fill_until(&mut self, jb: &mut JitterBuffer, until: i64, squelch: &impl Squelch) -> u32 {
        let Some(next) = self.next else {
            return 0;
        };
        let play = jb.play();
        let from = if play - next > MAX_GAP {
            let _ = self.dec.reset();
            play
        } else {
            next
        };
        if from >= until || squelch.covers(from.max(play), until) {
            return 0;
        }
        let before = self.concealed;
        self.conceal(jb, from, until);
        (self.concealed - before) as u32
    }

    /// Conceals `from .. to` in 10 ms frames (the last may overrun `to`: the decoder's
    /// position then runs ahead of `to`, and `next` with it).
    fn conceal(&mut self, jb: &mut JitterBuffer, from: i64, to: i64) {
        let mut at = from;
        while at < to {
            let out = &mut self.scratch[..FRAME];
            if self.dec.conceal(out).is_err() {
                out.fill(0);
            }
            let play = jb.play();
            jb.write(at, FRAME, |dst, off| {
                dst.copy_from_slice(&out[off..off + dst.len()])
            });
            let counted = (at + FRAME as i64).min(to) - at.max(play);
            self.concealed += counted.max(0) as u64;
            at += FRAME as i64;
        }
        self.next = Some(self.next.map_or(at, |n| n.max(at)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6716 §3.1: frame sizes by configuration, frame counts by code.
    #[test]
    fn rfc6716_3_1_durations_from_the_toc() {
        // Config 1 (SILK NB 20 ms), code 0: 160 samples at 8 kHz.
        assert_eq!(packet_samples(&[1 << 3]), Ok(160));
        // Config 3 (SILK NB 60 ms), code 1 (two frames): 120 ms.
        assert_eq!(packet_samples(&[3 << 3 | 1]), Ok(960));
        // Config 16 (CELT NB 2.5 ms), code 3 with 4 frames: 10 ms.
        assert_eq!(packet_samples(&[16 << 3 | 3, 4]), Ok(80));
        // Config 13 (hybrid SWB 20 ms).
        assert_eq!(packet_samples(&[13 << 3]), Ok(160));
        assert_eq!(packet_samples(&[]), Err(OpusError::EmptyPacket));
        assert_eq!(
            packet_samples(&[16 << 3 | 3]),
            Err(OpusError::InvalidPacket)
        );
        assert_eq!(
            packet_samples(&[16 << 3 | 3, 0]),
            Err(OpusError::InvalidPacket)
        );
        // 3 × 60 ms is over 120 ms.
        assert_eq!(
            packet_samples(&[3 << 3 | 3, 3]),
            Err(OpusError::InvalidPacket)
        );
    }
}
