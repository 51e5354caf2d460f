//! One channel's media on its media thread: detectors on what it receives, playback, tones,
//! DTMF and the bridge mixed into what it sends, recording.

use super::msg::{MediaCommand, MediaEvent, OpEnd, OpId};
use std::sync::Arc;
use tipring_dsp::cid::{CidEvent, CidReceiver, CidRxConfig, Message};
use tipring_dsp::dtmf::{DtmfEvent, DtmfGenConfig, DtmfGenerator, DtmfRx, DtmfRxConfig};
use tipring_dsp::echo::{EchoCanceller, EchoStats, Tail};
use tipring_dsp::osc::sat_i16;
use tipring_dsp::progress::{ProgressDetector, ToneGenerator};
use tipring_dsp::vad::{Vad, VadConfig, VadEvent};
use tipring_hal::{ChannelInfo, MAX_FRAME_SAMPLES};

/// What the channel is sending besides the bridge.
#[derive(Debug)]
#[expect(
    clippy::large_enum_variant,
    reason = "the tone generator is inline so that starting a tone never allocates"
)]
enum Output {
    Idle,
    Play {
        op: OpId,
        audio: Arc<[i16]>,
        pos: usize,
        /// Loops left after this one; `None`: for ever.
        loops_left: Option<u32>,
        barge_in: bool,
    },
    Tone {
        op: OpId,
        tone: ToneGenerator,
        /// Samples left; `None`: until stopped or the tone ends.
        left: Option<u64>,
    },
    Dtmf {
        op: OpId,
    },
}

#[derive(Debug)]
struct Recording {
    op: OpId,
    ring: rtrb::Producer<i16>,
    left: u64,
    vad: Option<Vad>,
    heard_voice: bool,
    lost: u64,
}

#[derive(Debug)]
struct Capture {
    rx: rtrb::Producer<i16>,
    tx: rtrb::Producer<i16>,
    /// This tick's received frame went in, so its sent frame goes in too (both or
    /// neither: the two directions stay in step after an overflow).
    pair: bool,
}

#[derive(Debug)]
struct Bridge {
    to_peer: rtrb::Producer<i16>,
    from_peer: rtrb::Consumer<i16>,
}

/// The media state of one channel. Built once; never allocates afterwards.
#[derive(Debug)]
pub(crate) struct ChannelMedia {
    pub(crate) info: ChannelInfo,
    dtmf_rx: DtmfRx,
    dtmf_tx: DtmfGenerator,
    progress: ProgressDetector,
    progress_on: bool,
    cid: CidReceiver,
    cid_on: bool,
    output: Output,
    recording: Option<Recording>,
    bridge: Option<Bridge>,
    /// A troubleshooting capture of both directions.
    capture: Option<Capture>,
    /// The line echo canceller (channels with an echo tail), and what it last sent: the
    /// reference for the echo in the next frame received.
    echo: Option<Echo>,
}

/// A channel's line echo canceller.
#[derive(Debug)]
pub(crate) struct Echo {
    ec: Box<EchoCanceller>,
    sent: [i16; MAX_FRAME_SAMPLES],
    /// Energy received and after cancellation, for ERLE.
    pub(crate) energy_in: f64,
    pub(crate) energy_out: f64,
}

impl Echo {
    /// The canceller's statistics.
    pub(crate) fn stats(&self) -> EchoStats {
        self.ec.stats()
    }
}

/// Something the media thread no longer needs and must not free itself: it goes back to
/// the control plane, which drops it.
#[derive(Debug)]
pub(crate) enum Trash {
    // The fields are never read: they are only carried back to be dropped.
    Audio(#[expect(dead_code, reason = "carried back to be dropped")] Arc<[i16]>),
    Samples(#[expect(dead_code, reason = "carried back to be dropped")] rtrb::Producer<i16>),
    Bridge(
        #[expect(dead_code, reason = "carried back to be dropped")] rtrb::Producer<i16>,
        #[expect(dead_code, reason = "carried back to be dropped")] rtrb::Consumer<i16>,
    ),
}

/// Where a channel's events go (the media thread's event ring), and what it lets go of.
pub(crate) trait Sink {
    fn event(&mut self, event: MediaEvent);
    fn discard(&mut self, trash: Trash);
    fn bridge_slip(&mut self);
}

impl ChannelMedia {
    pub(crate) fn new(info: ChannelInfo, progress: &ProgressDetector) -> Self {
        let tail = match info.echo_tail_ms {
            0 => None,
            1..=32 => Some(Tail::Ms32),
            33..=64 => Some(Tail::Ms64),
            _ => Some(Tail::Ms128),
        };
        ChannelMedia {
            echo: tail.map(|t| Echo {
                ec: Box::new(EchoCanceller::new(t)),
                sent: [0; MAX_FRAME_SAMPLES],
                energy_in: 0.0,
                energy_out: 0.0,
            }),
            info,
            dtmf_rx: DtmfRx::new(DtmfRxConfig::default())
                .expect("the default DTMF receiver settings are valid"),
            dtmf_tx: DtmfGenerator::new(DtmfGenConfig::default())
                .expect("the default DTMF generator settings are valid"),
            progress: progress.clone(),
            progress_on: false,
            cid: CidReceiver::new(CidRxConfig::default()),
            cid_on: false,
            output: Output::Idle,
            recording: None,
            bridge: None,
            capture: None,
        }
    }

    fn end_capture(&mut self, sink: &mut impl Sink) {
        if let Some(c) = self.capture.take() {
            sink.discard(Trash::Samples(c.rx));
            sink.discard(Trash::Samples(c.tx));
        }
    }

    fn end_output(&mut self, end: OpEnd, sink: &mut impl Sink) {
        let op = match &self.output {
            Output::Idle => return,
            Output::Play { op, .. } | Output::Tone { op, .. } | Output::Dtmf { op } => *op,
        };
        match std::mem::replace(&mut self.output, Output::Idle) {
            Output::Dtmf { .. } => self.dtmf_tx.clear(),
            // The buffer may be the last reference: it goes back to be freed there.
            Output::Play { audio, .. } => sink.discard(Trash::Audio(audio)),
            Output::Tone { .. } | Output::Idle => {}
        }
        sink.event(MediaEvent::Done { op, end, lost: 0 });
    }

    fn end_recording(&mut self, end: OpEnd, sink: &mut impl Sink) {
        if let Some(r) = self.recording.take() {
            sink.event(MediaEvent::Done {
                op: r.op,
                end,
                lost: r.lost,
            });
            sink.discard(Trash::Samples(r.ring));
        }
    }

    fn unbridge(&mut self, sink: &mut impl Sink) {
        if let Some(b) = self.bridge.take() {
            sink.event(MediaEvent::Unbridged);
            sink.discard(Trash::Bridge(b.to_peer, b.from_peer));
        }
    }

    /// Carries out a media order (line commands are the engine's).
    pub(crate) fn apply(&mut self, command: MediaCommand, sink: &mut impl Sink) {
        match command {
            MediaCommand::Play {
                op,
                audio,
                barge_in,
                loops,
            } => {
                self.end_output(OpEnd::Replaced, sink);
                if audio.is_empty() {
                    sink.event(MediaEvent::Done {
                        op,
                        end: OpEnd::Completed,
                        lost: 0,
                    });
                    sink.discard(Trash::Audio(audio));
                    return;
                }
                self.output = Output::Play {
                    op,
                    audio,
                    pos: 0,
                    loops_left: loops.checked_sub(1),
                    barge_in,
                };
            }
            MediaCommand::Tone { op, tone, ms } => {
                self.end_output(OpEnd::Replaced, sink);
                self.output = Output::Tone {
                    op,
                    tone: ToneGenerator::new(tone),
                    left: (ms > 0).then(|| u64::from(ms) * 8),
                };
            }
            MediaCommand::SendDtmf { op, digits } => {
                self.end_output(OpEnd::Replaced, sink);
                self.dtmf_tx.clear();
                // At most 32 checked digits: they fit the generator's queue of 64.
                let _ = self.dtmf_tx.queue_digits(digits.as_str());
                self.output = Output::Dtmf { op };
            }
            MediaCommand::Record {
                op,
                ring,
                max_ms,
                final_silence_ms,
            } => {
                self.end_recording(OpEnd::Replaced, sink);
                self.recording = Some(Recording {
                    op,
                    ring,
                    left: u64::from(max_ms.max(1)) * 8,
                    vad: (final_silence_ms > 0).then(|| {
                        Vad::new(VadConfig {
                            hangover_ms: final_silence_ms,
                            ..VadConfig::default()
                        })
                    }),
                    heard_voice: false,
                    lost: 0,
                });
            }
            MediaCommand::Stop { op } => {
                let out = match &self.output {
                    Output::Play { op: o, .. }
                    | Output::Tone { op: o, .. }
                    | Output::Dtmf { op: o } => *o == op,
                    Output::Idle => false,
                };
                if out {
                    self.end_output(OpEnd::Stopped, sink);
                }
                if self.recording.as_ref().is_some_and(|r| r.op == op) {
                    self.end_recording(OpEnd::Stopped, sink);
                }
            }
            MediaCommand::Bridge { to_peer, from_peer } => {
                self.unbridge(sink);
                self.bridge = Some(Bridge { to_peer, from_peer });
            }
            MediaCommand::Unbridge => self.unbridge(sink),
            MediaCommand::Capture { rx, tx } => {
                self.end_capture(sink);
                self.capture = Some(Capture {
                    rx,
                    tx,
                    pair: false,
                });
            }
            MediaCommand::CaptureStop => self.end_capture(sink),
            MediaCommand::DetectCallerId(on) => {
                if on && !self.cid_on {
                    self.cid.reset();
                }
                self.cid_on = on;
            }
            MediaCommand::DetectProgress(on) => {
                if on && !self.progress_on {
                    self.progress.reset();
                }
                self.progress_on = on;
            }
            MediaCommand::Reset => {
                self.end_output(OpEnd::Reset, sink);
                self.end_recording(OpEnd::Reset, sink);
                self.unbridge(sink);
                self.progress_on = false;
                self.cid_on = false;
                self.dtmf_rx.reset();
                self.progress.reset();
                if let Some(e) = self.echo.as_mut() {
                    // A new call may have a new echo path (the far end's hybrid).
                    e.ec.reset();
                    e.sent.fill(0);
                }
            }
            MediaCommand::Line(_) => {}
        }
    }

    /// The channel's echo canceller, if it has one.
    pub(crate) fn echo(&self) -> Option<&Echo> {
        self.echo.as_ref()
    }

    /// Cancels the echo of what this channel sent from what it received (in place), before
    /// anything listens to it. Adaptation is frozen while Tipring sends tones or DTMF: a
    /// tone is a poor training signal and can make the canceller diverge.
    pub(crate) fn cancel_echo(&mut self, rx: &mut [i16]) {
        let Some(e) = self.echo.as_mut() else {
            return;
        };
        let n = rx.len().min(MAX_FRAME_SAMPLES);
        e.ec.freeze(matches!(
            self.output,
            Output::Tone { .. } | Output::Dtmf { .. }
        ));
        let mut out = [0i16; MAX_FRAME_SAMPLES];
        e.ec.process(&e.sent[..n], &rx[..n], &mut out[..n]);
        let (mut ein, mut eout) = (0i64, 0i64);
        for (r, o) in rx[..n].iter().zip(&out[..n]) {
            ein += i64::from(*r) * i64::from(*r);
            eout += i64::from(*o) * i64::from(*o);
        }
        e.energy_in += ein as f64;
        e.energy_out += eout as f64;
        rx[..n].copy_from_slice(&out[..n]);
    }

    /// Keeps what this channel sends as the canceller's reference (and the capture's).
    pub(crate) fn sent(&mut self, tx: &[i16]) {
        if let Some(c) = &mut self.capture
            && std::mem::take(&mut c.pair)
        {
            push_all(&mut c.tx, tx);
        }
        if let Some(e) = self.echo.as_mut() {
            let n = tx.len().min(MAX_FRAME_SAMPLES);
            e.sent[..n].copy_from_slice(&tx[..n]);
        }
    }

    /// Processes the frame received this tick: detectors, recording, the bridge.
    pub(crate) fn receive(&mut self, rx: &[i16], sink: &mut impl Sink) {
        if let Some(c) = &mut self.capture {
            // Room for this tick's frame both ways, or it is dropped both ways.
            c.pair = c.rx.slots() >= rx.len() && c.tx.slots() >= rx.len();
            if c.pair {
                push_all(&mut c.rx, rx);
            }
        }
        // Digital silence (an idle SIP slot, a line with nothing on it) holds no tone: the
        // DTMF receiver only accounts for the time. Most idle channels come here each tick.
        let silent = rx.iter().all(|&s| s == 0);
        let mut rest = rx;
        while !rest.is_empty() {
            let n = if silent {
                self.dtmf_rx.fillin(rest.len())
            } else {
                self.dtmf_rx.process(rest)
            };
            rest = &rest[n..];
            let mut polled = false;
            while let Some(ev) = self.dtmf_rx.poll_event() {
                polled = true;
                if let DtmfEvent::Begin { digit, .. } = ev {
                    sink.event(MediaEvent::Digit { digit });
                    if let Output::Play { barge_in: true, .. } = self.output {
                        self.end_output(OpEnd::BargeIn(digit), sink);
                    }
                }
            }
            if n == 0 && !polled {
                break;
            }
        }
        if self.progress_on {
            let mut rest = rx;
            while !rest.is_empty() {
                let n = self.progress.process(rest);
                rest = &rest[n..];
                let mut polled = false;
                while let Some(ev) = self.progress.poll_event() {
                    polled = true;
                    sink.event(MediaEvent::Progress(ev.tone));
                }
                if n == 0 && !polled {
                    break;
                }
            }
        }
        if self.cid_on {
            let mut rest = rx;
            while !rest.is_empty() {
                let n = self.cid.process(rest);
                rest = &rest[n..];
                let mut polled = false;
                while let Some(ev) = self.cid.poll_event() {
                    polled = true;
                    if let CidEvent::Message {
                        message: Message::CallerId(id),
                        ..
                    } = ev
                    {
                        sink.event(MediaEvent::CallerId(id));
                    }
                }
                if n == 0 && !polled {
                    break;
                }
            }
        }
        if let Some(r) = &mut self.recording {
            let take = (r.left.min(rx.len() as u64)) as usize;
            for &s in &rx[..take] {
                if r.ring.push(s).is_err() {
                    r.lost += 1;
                }
            }
            r.left -= take as u64;
            let mut end = (r.left == 0).then_some(OpEnd::MaxTime);
            if let Some(vad) = &mut r.vad {
                let mut rest = rx;
                while !rest.is_empty() {
                    let n = vad.process(rest);
                    rest = &rest[n..];
                    let mut polled = false;
                    while let Some(ev) = vad.poll_event() {
                        polled = true;
                        match ev {
                            VadEvent::VoiceStart { .. } => r.heard_voice = true,
                            VadEvent::VoiceEnd { .. } if r.heard_voice => {
                                end = end.or(Some(OpEnd::Silence));
                            }
                            _ => {}
                        }
                    }
                    if n == 0 && !polled {
                        break;
                    }
                }
            }
            if let Some(end) = end {
                self.end_recording(end, sink);
            }
        }
        if let Some(b) = &mut self.bridge {
            for &s in rx {
                if b.to_peer.push(s).is_err() {
                    sink.bridge_slip();
                    break;
                }
            }
        }
    }

    /// Renders the frame to send this tick into `tx` (the frame's length).
    pub(crate) fn transmit(&mut self, tx: &mut [i16], sink: &mut impl Sink) {
        tx.fill(0);
        let frame = tx.len();
        let mut ended = None;
        match &mut self.output {
            Output::Idle => {}
            Output::Play {
                audio,
                pos,
                loops_left,
                ..
            } => {
                let mut n = 0;
                while n < frame {
                    let k = (audio.len() - *pos).min(frame - n);
                    tx[n..n + k].copy_from_slice(&audio[*pos..*pos + k]);
                    n += k;
                    *pos += k;
                    if *pos == audio.len() {
                        match loops_left {
                            Some(0) => {
                                ended = Some(OpEnd::Completed);
                                break;
                            }
                            Some(l) => *l -= 1,
                            None => {}
                        }
                        *pos = 0;
                    }
                }
            }
            Output::Tone { tone, left, .. } => {
                let want = left.map_or(frame, |l| (l as usize).min(frame));
                let n = tone.generate(&mut tx[..want]);
                if let Some(l) = left {
                    *l -= want as u64;
                }
                if left.is_some_and(|l| l == 0) || (n < want) {
                    ended = Some(OpEnd::Completed);
                }
            }
            Output::Dtmf { .. } => {
                let _ = self.dtmf_tx.generate(tx);
                if self.dtmf_tx.is_idle() {
                    ended = Some(OpEnd::Completed);
                }
            }
        }
        if let Some(end) = ended {
            self.end_output(end, sink);
        }
        if let Some(b) = &mut self.bridge {
            let ready = b.from_peer.slots();
            if ready < frame {
                // The peer's frame is not there yet (its thread ticks a little later): send
                // what there is, the rest next time.
                if ready == 0 {
                    sink.bridge_slip();
                }
            } else if ready > 4 * frame {
                // Too much queued (the two clocks drifted): drop the oldest to keep delay low.
                if let Ok(chunk) = b.from_peer.read_chunk(ready - 2 * frame) {
                    chunk.commit_all();
                }
                sink.bridge_slip();
            }
            let take = b.from_peer.slots().min(frame);
            if let Ok(chunk) = b.from_peer.read_chunk(take) {
                let (a, c) = chunk.as_slices();
                for (t, &s) in tx.iter_mut().zip(a.iter().chain(c)) {
                    *t = sat_i16(f32::from(*t) + f32::from(s));
                }
                chunk.commit_all();
            }
        }
    }
}

/// Pushes what fits of `s` into `ring` (no allocation; a full ring drops the rest).
fn push_all(ring: &mut rtrb::Producer<i16>, s: &[i16]) {
    let n = ring.slots().min(s.len());
    if let Ok(mut chunk) = ring.write_chunk(n) {
        let (a, b) = chunk.as_mut_slices();
        let k = a.len();
        a.copy_from_slice(&s[..k]);
        b.copy_from_slice(&s[k..k + b.len()]);
        chunk.commit_all();
    }
}

/// The largest frame a channel handles.
pub(crate) const FRAME: usize = MAX_FRAME_SAMPLES;
