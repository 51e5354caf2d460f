//! Caller ID sent to a phone on an FXS port: the audio of the burst, made on the media
//! thread with the DSP core's modulators, written during the driver's on-hook transfer.
//!
//! | style | when | what |
//! |---|---|---|
//! | [`CidStyle::Bell202`] | after the first ring, 500 ms into the silence | Bell 202 FSK, MDMF |
//! | [`CidStyle::EtsiAfterRing`] | after the first ring, 500 ms into the silence | V.23 FSK, ETSI CLIP |
//! | [`CidStyle::EtsiLineReversal`] | before the first ring, after a polarity reversal | DT-AS (2130 + 2750 Hz, 100 ms), 50 ms, V.23 FSK, 200 ms before the ring |
//! | [`CidStyle::EtsiDtas`] | before the first ring | as above without the reversal |
//! | [`CidStyle::DtmfClip`] | before the first ring | `A<number>C` in DTMF, 300 ms before the ring |
//!
//! (Timing from Telcordia GR-30-CORE and ETSI EN 300 659-1, within their windows.)
//! Everything is sized in [`CidSender::new`]; starting and generating allocate nothing.

use crate::signal::Caller;
use tipring_dsp::cid::{Absence, CallerId, Format, FskConfig, FskModulator, FskStandard, Message};
use tipring_dsp::dtmf::{DtmfGenConfig, DtmfGenerator};
use tipring_dsp::osc::{Oscillator, sat_i16};

/// How a board's phones are told who calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CidStyle {
    /// No caller ID.
    #[default]
    None,
    /// Bell 202 FSK between the first and second ring (North America).
    Bell202,
    /// V.23 FSK between the first and second ring (ETSI; also what a profile's ring-pulse
    /// alerting, RP-AS, gets: the first ring is the alerting pulse).
    EtsiAfterRing,
    /// DT-AS alert tone, then V.23 FSK, before the first ring (ETSI EN 300 659-1).
    EtsiDtas,
    /// Line reversal and DT-AS alert tone, then V.23 FSK, before the first ring (ETSI;
    /// BT's method in the UK).
    EtsiLineReversal,
    /// DTMF `A<number>C` before the first ring.
    DtmfClip,
}

impl CidStyle {
    /// Whether the burst goes before the first ring (else in the first silence).
    pub fn before_ring(self) -> bool {
        matches!(
            self,
            CidStyle::EtsiLineReversal | CidStyle::EtsiDtas | CidStyle::DtmfClip
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Silence(u32),
    Dtas(u32),
    Fsk,
    Dtmf,
}

const MS: u32 = 8;

/// One port's caller-ID burst generator.
#[derive(Debug)]
pub struct CidSender {
    bell: FskModulator,
    v23: FskModulator,
    use_v23: bool,
    dtmf: DtmfGenerator,
    dtas: [Oscillator; 2],
    parts: heapless::Deque<Part, 6>,
}

impl Default for CidSender {
    fn default() -> Self {
        Self::new()
    }
}

impl CidSender {
    /// A sender at rest.
    pub fn new() -> Self {
        // DT-AS at −20 dBm0 per tone (EN 300 659-1 allows −40 … −2).
        let peak = tipring_dsp::level::dbm0_to_peak(-20.0);
        CidSender {
            bell: FskModulator::new(FskConfig::on_hook(FskStandard::Bell202)),
            v23: FskModulator::new(FskConfig::on_hook(FskStandard::V23)),
            use_v23: false,
            dtmf: DtmfGenerator::new(DtmfGenConfig {
                on_ms: 70,
                off_ms: 70,
                ..DtmfGenConfig::default()
            })
            .unwrap_or_else(|_| unreachable_generator()),
            dtas: [
                Oscillator::new(2130.0, 8000, peak),
                Oscillator::new(2750.0, 8000, peak),
            ],
            parts: heapless::Deque::new(),
        }
    }

    /// Loads the burst for `caller` in `style`; returns how long it lasts, ms (0: nothing
    /// to send).
    pub fn start(&mut self, style: CidStyle, caller: &Caller) -> u32 {
        self.stop();
        let mut id = CallerId::default();
        match &caller.number {
            Some(n) if !caller.withheld => {
                let mut s = heapless::String::new();
                for c in n.as_str().chars() {
                    let _ = s.push(c);
                }
                id.number = Some(s);
            }
            _ => {
                id.number_absent = Some(if caller.withheld {
                    Absence::Private
                } else {
                    Absence::OutOfArea
                });
            }
        }
        let msg = Message::CallerId(id.clone());
        let parts: &[Part] = match style {
            CidStyle::None => return 0,
            CidStyle::Bell202 => {
                if self.bell.load_message(&msg, Format::Mdmf).is_err() {
                    return 0;
                }
                self.use_v23 = false;
                &[Part::Silence(500), Part::Fsk]
            }
            CidStyle::EtsiAfterRing => {
                if self.v23.load_message(&msg, Format::Etsi).is_err() {
                    return 0;
                }
                self.use_v23 = true;
                &[Part::Silence(500), Part::Fsk]
            }
            CidStyle::EtsiLineReversal | CidStyle::EtsiDtas => {
                if self.v23.load_message(&msg, Format::Etsi).is_err() {
                    return 0;
                }
                self.use_v23 = true;
                &[
                    Part::Silence(100),
                    Part::Dtas(100),
                    Part::Silence(50),
                    Part::Fsk,
                    Part::Silence(200),
                ]
            }
            CidStyle::DtmfClip => {
                let Ok(text) = tipring_dsp::cid::dtmf_clip::format(
                    &id,
                    tipring_dsp::cid::dtmf_clip::DtmfClipStyle::AC,
                ) else {
                    return 0;
                };
                self.dtmf.clear();
                if self.dtmf.queue_digits(text.as_str()).is_err() {
                    return 0;
                }
                &[Part::Silence(100), Part::Dtmf, Part::Silence(300)]
            }
        };
        let mut samples = 0u32;
        for p in parts {
            let _ = self.parts.push_back(*p);
            samples += match *p {
                Part::Silence(ms) | Part::Dtas(ms) => ms * MS,
                Part::Fsk => {
                    let m = if self.use_v23 { &self.v23 } else { &self.bell };
                    m.remaining_samples() as u32
                }
                Part::Dtmf => self.dtmf.remaining_samples() as u32,
            };
        }
        samples.div_ceil(MS)
    }

    /// Whether a burst is being sent.
    pub fn busy(&self) -> bool {
        !self.parts.is_empty()
    }

    /// Abandons the burst (the phone was answered, the ringing stopped).
    pub fn stop(&mut self) {
        self.parts.clear();
        self.dtmf.clear();
    }

    /// The next `out.len()` samples of the burst (silence after its end); whether the
    /// burst ended in them.
    pub fn generate(&mut self, out: &mut [i16]) -> bool {
        let mut done = 0;
        while done < out.len() {
            let Some(part) = self.parts.front_mut() else {
                out[done..].fill(0);
                return true;
            };
            let rest = &mut out[done..];
            let n = match part {
                Part::Silence(ms) | Part::Dtas(ms) => {
                    let left = (*ms * MS) as usize;
                    let n = left.min(rest.len());
                    if matches!(part, Part::Dtas(_)) {
                        for o in &mut rest[..n] {
                            *o = sat_i16(self.dtas[0].next_sample() + self.dtas[1].next_sample());
                        }
                    } else {
                        rest[..n].fill(0);
                    }
                    let left = left - n;
                    if left == 0 {
                        self.parts.pop_front();
                    } else {
                        match part {
                            Part::Silence(ms) | Part::Dtas(ms) => *ms = left as u32 / MS,
                            _ => {}
                        }
                    }
                    n
                }
                Part::Fsk => {
                    let m = if self.use_v23 {
                        &mut self.v23
                    } else {
                        &mut self.bell
                    };
                    let n = m.generate(rest);
                    if n < rest.len() || !m.is_busy() {
                        self.parts.pop_front();
                    }
                    n
                }
                Part::Dtmf => {
                    let n = self.dtmf.generate(rest);
                    if n < rest.len() || self.dtmf.is_idle() {
                        self.parts.pop_front();
                    }
                    n
                }
            };
            done += n;
        }
        self.parts.is_empty()
    }
}

/// The DTMF settings above are within the generator's limits; this is never reached.
fn unreachable_generator() -> DtmfGenerator {
    DtmfGenerator::new(DtmfGenConfig::default()).expect("the default DTMF generator is valid")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::ChannelId;
    use crate::signal::Digits;
    use tipring_dsp::cid::{CidEvent, CidReceiver, CidRxConfig};

    fn caller() -> Caller {
        Caller {
            number: Some(Digits::parse(ChannelId(1), "2125551212").unwrap()),
            withheld: false,
        }
    }

    fn burst(style: CidStyle) -> (u32, Vec<i16>) {
        let mut s = CidSender::new();
        let ms = s.start(style, &caller());
        let mut out = Vec::new();
        let mut frame = [0i16; 160];
        while s.busy() {
            s.generate(&mut frame);
            out.extend_from_slice(&frame);
        }
        (ms, out)
    }

    fn decode(standard: FskStandard, audio: &[i16]) -> Option<String> {
        let mut rx = CidReceiver::new(CidRxConfig::new(standard));
        let mut rest = audio;
        while !rest.is_empty() {
            let n = rx.process(rest);
            rest = &rest[n..];
            while let Some(e) = rx.poll_event() {
                if let CidEvent::Message {
                    message: Message::CallerId(id),
                    ..
                } = e
                {
                    return id.number.map(|n| n.to_string());
                }
            }
            if n == 0 {
                break;
            }
        }
        None
    }

    #[test]
    fn bursts_decode_and_last_as_announced() {
        for (style, std) in [
            (CidStyle::Bell202, FskStandard::Bell202),
            (CidStyle::EtsiAfterRing, FskStandard::V23),
            (CidStyle::EtsiLineReversal, FskStandard::V23),
            (CidStyle::EtsiDtas, FskStandard::V23),
        ] {
            let (ms, audio) = burst(style);
            assert!(
                (audio.len() as u32).div_ceil(8).abs_diff(ms) <= 20,
                "{style:?}: {ms} ms announced, {} samples",
                audio.len()
            );
            assert_eq!(
                decode(std, &audio).as_deref(),
                Some("2125551212"),
                "{style:?}"
            );
        }
        let (_, audio) = burst(CidStyle::DtmfClip);
        let mut rx =
            tipring_dsp::dtmf::DtmfRx::new(tipring_dsp::dtmf::DtmfRxConfig::default()).unwrap();
        let mut digits = String::new();
        let mut rest = &audio[..];
        while !rest.is_empty() {
            let n = rx.process(rest);
            rest = &rest[n..];
            while let Some(e) = rx.poll_event() {
                if let tipring_dsp::dtmf::DtmfEvent::Begin { digit, .. } = e {
                    digits.push(digit);
                }
            }
        }
        assert_eq!(digits, "A2125551212C");
        assert_eq!(burst(CidStyle::None).0, 0);
    }

    #[test]
    fn a_stopped_burst_is_silent() {
        let mut s = CidSender::new();
        s.start(CidStyle::Bell202, &caller());
        s.stop();
        assert!(!s.busy());
        let mut frame = [1i16; 160];
        assert!(s.generate(&mut frame));
        assert!(frame.iter().all(|v| *v == 0));
    }
}
