//! A simulated far-end party: it talks by a script (in-band DTMF from the DSP generator, WAV
//! audio, tones, silence, hook actions) and listens with the DSP detectors, reporting the
//! digits and call-progress tones it hears.

use crate::audio::SAMPLE_RATE;
use crate::signal::Digits;
use std::sync::Arc;
use tipring_dsp::dtmf::{DtmfEvent, DtmfGenConfig, DtmfGenerator, DtmfRx, DtmfRxConfig};
use tipring_dsp::progress::plan::ToneDescriptor;
use tipring_dsp::progress::{ProgressConfig, ProgressDetector, ProgressTone, ToneGenerator};

/// Most steps in one script.
pub const MAX_STEPS: usize = 16;

/// One thing a simulated party does.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Silence for `ms`.
    Wait {
        /// Milliseconds.
        ms: u32,
    },
    /// Key `digits` as in-band DTMF (80 ms on, 80 ms off, −10/−8 dBm0), made by the DSP
    /// generator: the board has to detect it from the audio.
    Dial {
        /// The digits.
        digits: Digits,
    },
    /// Play 8 kHz linear samples once (a decoded WAV file).
    Play {
        /// The samples.
        audio: Arc<[i16]>,
    },
    /// Play a call-progress tone for `ms`.
    Tone {
        /// The tone.
        tone: &'static ToneDescriptor,
        /// Milliseconds.
        ms: u32,
    },
    /// Hang up: a phone goes on hook; a party behind the exchange clears the call.
    Hangup,
    /// A hook flash (phones only; ignored elsewhere).
    Flash,
}

/// What a party does, in order. Fixed capacity, so scripts move to the media thread and
/// back without allocating.
pub type Script = heapless::Vec<Step, MAX_STEPS>;

/// A script step that changes the line's hook state; the line acts on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Effect {
    Hangup,
    Flash,
}

/// What a party heard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Heard {
    Digit(char),
    Tone(ProgressTone),
}

#[derive(Debug)]
pub(crate) struct Party {
    script: Script,
    pc: usize,
    started: bool,
    /// Samples left in the current timed step; position in the current `Play`.
    left: usize,
    pos: usize,
    dtmf: DtmfGenerator,
    tone: Option<ToneGenerator>,
    rx: DtmfRx,
    cpt: ProgressDetector,
    record: Option<rtrb::Producer<i16>>,
    /// Samples that did not fit the recording ring.
    pub(crate) record_lost: u64,
}

impl Party {
    /// A silent party. `cpt` is a detector to clone (it shares its plan tables).
    pub(crate) fn new(cpt: &ProgressDetector) -> Self {
        Party {
            script: Script::new(),
            pc: 0,
            started: false,
            left: 0,
            pos: 0,
            dtmf: DtmfGenerator::new(DtmfGenConfig::default())
                .expect("the default DTMF generator settings are valid"),
            tone: None,
            rx: DtmfRx::new(DtmfRxConfig::default())
                .expect("the default DTMF receiver settings are valid"),
            cpt: cpt.clone(),
            record: None,
            record_lost: 0,
        }
    }

    /// Starts `script` from its first step (the one running is abandoned).
    pub(crate) fn run(&mut self, script: Script) {
        self.script = script;
        self.pc = 0;
        self.started = false;
        self.dtmf.clear();
        self.tone = None;
    }

    /// Stops talking and forgets what it was hearing (the call ended).
    pub(crate) fn reset(&mut self) {
        self.run(Script::new());
        self.rx.reset();
        self.cpt.reset();
    }

    /// True when the script has run out.
    pub(crate) fn is_idle(&self) -> bool {
        self.pc >= self.script.len()
    }

    /// Records what the party hears into `ring` (replacing any recording).
    pub(crate) fn set_record(&mut self, ring: Option<rtrb::Producer<i16>>) {
        self.record = ring;
    }

    fn advance(&mut self) {
        self.pc += 1;
        self.started = false;
    }

    /// Fills `out` with what the party says during this frame; returns a hook action when
    /// the script reaches one (the rest of the frame is silence).
    pub(crate) fn talk(&mut self, out: &mut [i16]) -> Option<Effect> {
        out.fill(0);
        let mut n = 0;
        while n < out.len() {
            let Some(step) = self.script.get(self.pc) else {
                break;
            };
            match step {
                Step::Wait { ms } => {
                    if !self.started {
                        self.left = samples(*ms);
                        self.started = true;
                    }
                    let k = self.left.min(out.len() - n);
                    n += k;
                    self.left -= k;
                    if self.left == 0 {
                        self.advance();
                    }
                }
                Step::Dial { digits } => {
                    if !self.started {
                        self.dtmf.clear();
                        // Digits are checked when parsed; at most 32 fit the queue of 64.
                        let _ = self.dtmf.queue_digits(digits.as_str());
                        self.started = true;
                    }
                    n += self.dtmf.generate(&mut out[n..]);
                    if self.dtmf.is_idle() {
                        self.advance();
                    }
                }
                Step::Play { audio } => {
                    if !self.started {
                        self.pos = 0;
                        self.started = true;
                    }
                    let k = (audio.len() - self.pos.min(audio.len())).min(out.len() - n);
                    out[n..n + k].copy_from_slice(&audio[self.pos..self.pos + k]);
                    n += k;
                    self.pos += k;
                    if self.pos >= audio.len() {
                        self.advance();
                    }
                }
                Step::Tone { tone, ms } => {
                    if !self.started {
                        self.tone = Some(ToneGenerator::new(tone));
                        self.left = samples(*ms);
                        self.started = true;
                    }
                    let k = self.left.min(out.len() - n);
                    if let Some(g) = &mut self.tone {
                        // A finite tone that ends early leaves silence.
                        let _ = g.generate(&mut out[n..n + k]);
                    }
                    n += k;
                    self.left -= k;
                    if self.left == 0 {
                        self.tone = None;
                        self.advance();
                    }
                }
                Step::Hangup => {
                    self.advance();
                    return Some(Effect::Hangup);
                }
                Step::Flash => {
                    self.advance();
                    return Some(Effect::Flash);
                }
            }
        }
        None
    }

    /// Listens to `frame` (what the board sent); calls `heard` for each digit and tone.
    pub(crate) fn listen(&mut self, frame: &[i16], mut heard: impl FnMut(Heard)) {
        if let Some(ring) = &mut self.record {
            for &s in frame {
                if ring.push(s).is_err() {
                    self.record_lost += 1;
                }
            }
        }
        let mut rest = frame;
        while !rest.is_empty() {
            let k = self.rx.process(rest);
            rest = &rest[k..];
            let mut polled = false;
            while let Some(ev) = self.rx.poll_event() {
                polled = true;
                if let DtmfEvent::Begin { digit, .. } = ev {
                    heard(Heard::Digit(digit));
                }
            }
            if k == 0 && !polled {
                break;
            }
        }
        let mut rest = frame;
        while !rest.is_empty() {
            let k = self.cpt.process(rest);
            rest = &rest[k..];
            let mut polled = false;
            while let Some(ev) = self.cpt.poll_event() {
                polled = true;
                heard(Heard::Tone(ev.tone));
            }
            if k == 0 && !polled {
                break;
            }
        }
    }
}

/// Samples in `ms` milliseconds.
pub(crate) fn samples(ms: u32) -> usize {
    ms as usize * (SAMPLE_RATE as usize / 1000)
}

/// A detector for `plan`'s tones, to be cloned by every party of a board.
pub(crate) fn detector(plan: &'static tipring_dsp::progress::plan::TonePlan) -> ProgressDetector {
    ProgressDetector::new(ProgressConfig::new(plan))
}
