//! Voice activity detection: voice start/end and long silences, for recording end and answer
//! detection.
//!
//! # What does it do?
//! Tells speech (or any non-stationary sound well above the line's noise) from silence and
//! steady background noise. It reports [`VadEvent::VoiceStart`] when sound rises
//! `margin_db` above the noise floor for `onset_ms`, [`VadEvent::VoiceEnd`] after
//! `hangover_ms` without it (so pauses between words do not split an utterance), and
//! [`VadEvent::Silence`] once silence has lasted `silence_ms`: the cue to stop a recording,
//! or, after an outbound call is answered, to decide that a short greeting ("Hello?") was a
//! person rather than a machine's long announcement. Tones are sound too: run the
//! call-progress detector beside it to tell ringback from a voice.
//!
//! # How does it work?
//! Levels are measured over 10 ms blocks. The noise floor follows the block level down at
//! once and up slowly (3 dB per second), the minimum-tracking rule that lets steady noise
//! become the floor while speech, which never stays up for long, does not. A block is voiced
//! when it stands `margin_db` above the floor and above an absolute `min_level_dbm0`.

use crate::level::{dbm0_to_power, power_to_dbm0};

/// Block length: 10 ms at 8 kHz.
const BLOCK: u32 = 80;

/// VAD settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VadConfig {
    /// How far above the noise floor a block must be to count as voice, dB (default 9).
    pub margin_db: f32,
    /// Absolute minimum level of voice, dBm0 (default −45).
    pub min_level_dbm0: f32,
    /// Voiced time before [`VadEvent::VoiceStart`], ms (default 30).
    pub onset_ms: u32,
    /// Unvoiced time before [`VadEvent::VoiceEnd`], ms (default 300).
    pub hangover_ms: u32,
    /// Unvoiced time before [`VadEvent::Silence`], ms (default 2000).
    pub silence_ms: u32,
}

impl Default for VadConfig {
    fn default() -> Self {
        Self {
            margin_db: 9.0,
            min_level_dbm0: -45.0,
            onset_ms: 30,
            hangover_ms: 300,
            silence_ms: 2000,
        }
    }
}

/// What the VAD reports; `at` is the sample count at the end of the deciding block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VadEvent {
    /// Voice began (`at` is when it was confirmed; `since` when the first voiced block began).
    VoiceStart {
        /// Decision time, samples.
        at: u64,
        /// Start of the first voiced block, samples.
        since: u64,
    },
    /// Voice ended after the hang-over; `duration` runs from `since` of the start to the last
    /// voiced block's end.
    VoiceEnd {
        /// Decision time, samples.
        at: u64,
        /// Length of the utterance, samples.
        duration: u64,
    },
    /// No voice for `silence_ms` (reported once per silent stretch, also at the very start).
    Silence {
        /// Decision time, samples.
        at: u64,
    },
}

/// Events held before `process` stops consuming.
pub const EVENT_CAPACITY: usize = 8;

/// The voice activity detector. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct Vad {
    margin: f32,
    min_power: f32,
    rise_per_block: f32,
    onset_blocks: u32,
    hangover_blocks: u32,
    silence_blocks: u32,
    acc: f64,
    fill: u32,
    pos: u64,
    floor: f32,
    floor_init: bool,
    voiced_run: u32,
    unvoiced_run: u32,
    in_voice: bool,
    voice_since: u64,
    last_voiced_end: u64,
    silence_reported: bool,
    events: heapless::Deque<VadEvent, EVENT_CAPACITY>,
}

impl Vad {
    /// A detector with the given settings (durations are rounded up to 10 ms blocks).
    pub fn new(cfg: VadConfig) -> Self {
        let blocks = |ms: u32| ms.div_ceil(10).max(1);
        Self {
            margin: 10f32.powf(cfg.margin_db / 10.0),
            min_power: dbm0_to_power(cfg.min_level_dbm0),
            rise_per_block: 10f32.powf(0.03 / 10.0), // 3 dB per second
            onset_blocks: blocks(cfg.onset_ms),
            hangover_blocks: blocks(cfg.hangover_ms),
            silence_blocks: blocks(cfg.silence_ms),
            acc: 0.0,
            fill: 0,
            pos: 0,
            floor: 0.0,
            floor_init: false,
            voiced_run: 0,
            unvoiced_run: 0,
            in_voice: false,
            voice_since: 0,
            last_voiced_end: 0,
            silence_reported: false,
            events: heapless::Deque::new(),
        }
    }

    /// The next event, oldest first.
    pub fn poll_event(&mut self) -> Option<VadEvent> {
        self.events.pop_front()
    }

    /// True while in an utterance (from `VoiceStart` to `VoiceEnd`).
    pub fn in_voice(&self) -> bool {
        self.in_voice
    }

    /// Current noise floor, dBm0.
    pub fn noise_floor_dbm0(&self) -> f32 {
        power_to_dbm0(self.floor)
    }

    /// Feeds samples; returns how many were consumed (all, unless the event queue is nearly
    /// full: drain [`poll_event`](Self::poll_event) and feed the rest).
    pub fn process(&mut self, x: &[i16]) -> usize {
        let mut done = 0;
        while done < x.len() {
            if self.events.len() + 2 > EVENT_CAPACITY {
                break;
            }
            let take = ((BLOCK - self.fill) as usize).min(x.len() - done);
            for &s in &x[done..done + take] {
                let v = f64::from(s);
                self.acc += v * v;
            }
            done += take;
            self.fill += take as u32;
            self.pos += take as u64;
            if self.fill == BLOCK {
                let p = (self.acc / f64::from(BLOCK)) as f32;
                self.acc = 0.0;
                self.fill = 0;
                self.block(p);
            }
        }
        done
    }

    fn block(&mut self, p: f32) {
        // Floor: down at once, up slowly; start from the first block.
        if !self.floor_init {
            self.floor = p;
            self.floor_init = true;
        } else if p < self.floor {
            self.floor = p;
        } else {
            self.floor = (self.floor * self.rise_per_block).max(1e-3);
        }
        let voiced = p >= self.min_power && p >= self.floor * self.margin;
        let now = self.pos;
        if voiced {
            if self.voiced_run == 0 {
                self.voice_since = now - u64::from(BLOCK);
            }
            self.voiced_run += 1;
            self.unvoiced_run = 0;
            self.last_voiced_end = now;
            self.silence_reported = false;
            if !self.in_voice && self.voiced_run >= self.onset_blocks {
                self.in_voice = true;
                let _ = self.events.push_back(VadEvent::VoiceStart {
                    at: now,
                    since: self.voice_since,
                });
            }
        } else {
            self.unvoiced_run += 1;
            if self.in_voice {
                // Short dips inside an utterance keep its start.
                if self.unvoiced_run >= self.hangover_blocks {
                    self.in_voice = false;
                    self.voiced_run = 0;
                    let _ = self.events.push_back(VadEvent::VoiceEnd {
                        at: now,
                        duration: self.last_voiced_end - self.voice_since,
                    });
                }
            } else {
                self.voiced_run = 0;
            }
            if !self.silence_reported && self.unvoiced_run >= self.silence_blocks {
                self.silence_reported = true;
                let _ = self.events.push_back(VadEvent::Silence { at: now });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::{Noise, SpeechLike, silence};

    fn events(x: &[i16], cfg: VadConfig, chunk: usize) -> Vec<VadEvent> {
        let mut v = Vad::new(cfg);
        let mut out = Vec::new();
        for c in x.chunks(chunk) {
            let mut done = 0;
            while done < c.len() {
                done += v.process(&c[done..]);
                while let Some(e) = v.poll_event() {
                    out.push(e);
                }
            }
        }
        out
    }

    /// Noise at −55 dBm0, 1.5 s of speech, 3 s of noise: one utterance, then a silence report
    /// 2 s after it ended.
    #[test]
    fn utterance_then_silence() {
        let mut x = Vec::new();
        silence(&mut x, 1000.0);
        let mut sp = SpeechLike::new(9, -20.0);
        // Voiced speech only (a syllable train without long pauses) for the timing check.
        let mut speech = Vec::new();
        sp.render(&mut speech, 1500.0);
        x.extend_from_slice(&speech);
        silence(&mut x, 3000.0);
        Noise::new(1, -55.0).add_to(&mut x);
        let ev = events(&x, VadConfig::default(), 160);
        let starts: Vec<_> = ev
            .iter()
            .filter(|e| matches!(e, VadEvent::VoiceStart { .. }))
            .collect();
        assert!(!starts.is_empty());
        let VadEvent::VoiceStart { since, .. } = *starts[0] else {
            unreachable!()
        };
        assert!((7600..=8800).contains(&since), "voice began at {since}");
        let last_end = ev.iter().rev().find_map(|e| match *e {
            VadEvent::VoiceEnd { at, .. } => Some(at),
            _ => None,
        });
        let end = last_end.expect("voice ended");
        // Ends within hangover (+ a syllable's tail) of the speech's end at 2.5 s.
        assert!((20_000..=26_000).contains(&end), "ended at {end}");
        let mut sil = ev.iter().filter_map(|e| match *e {
            VadEvent::Silence { at } => Some(at),
            _ => None,
        });
        let last_sil = sil.next_back().expect("a silence report");
        // Silence counts from the last voiced block, which is the hang-over (300 ms) before
        // the end was declared: 2 s − 0.3 s after `end`.
        assert_eq!(
            last_sil,
            end + 16_000 - 2_400,
            "silence at {last_sil}, end {end}"
        );
    }

    /// Steady noise, even loud, is not voice once the floor has tracked it: −30 dBm0 noise
    /// after 1 s at −60 dBm0 gives at most one short false start, then silence.
    #[test]
    fn steady_noise_becomes_the_floor() {
        let mut x = vec![0i16; 8000 * 12];
        Noise::new(2, -60.0).add_to(&mut x[..8000]);
        Noise::new(3, -30.0).add_to(&mut x[8000..]);
        let ev = events(&x, VadConfig::default(), 160);
        let starts = ev
            .iter()
            .filter(|e| matches!(e, VadEvent::VoiceStart { .. }))
            .count();
        assert!(starts <= 1, "{ev:?}");
        assert!(
            matches!(ev.last(), Some(VadEvent::Silence { .. })),
            "{ev:?}"
        );
    }

    /// Digital silence: only a silence report.
    #[test]
    fn digital_silence() {
        let ev = events(&[0i16; 24_000], VadConfig::default(), 7);
        assert_eq!(ev, vec![VadEvent::Silence { at: 16_000 }]);
    }

    /// Chunking does not change events.
    #[test]
    fn chunk_independent() {
        let mut x = Vec::new();
        SpeechLike::new(4, -15.0).render(&mut x, 5000.0);
        silence(&mut x, 3000.0);
        Noise::new(5, -50.0).add_to(&mut x);
        let a = events(&x, VadConfig::default(), x.len());
        assert!(!a.is_empty());
        for chunk in [1, 13, 160] {
            assert_eq!(events(&x, VadConfig::default(), chunk), a);
        }
    }
}
