//! Caller-ID receiver: audio in, decoded messages and errors out.

use heapless::Deque;

use super::FskStandard;
use super::demod::FskFrontEnd;
use super::error::CidError;
use super::message::{Format, Frame, Message, decode};
use super::uart::{BIT, Uart, UartOut};

/// Events the receiver queue holds before [`CidReceiver::process`] stops consuming.
pub const EVENT_CAPACITY: usize = 4;

/// Soft value below which a sample counts towards the qualifying mark run (−1 is nominal mark;
/// −0.5 is 250 Hz below 1700 Hz for Bell 202, 200 Hz for V.23).
const MARK_CONFIDENCE: f32 = -0.5;
/// Mark bits tolerated between two characters of a message before it is declared truncated.
const MAX_GAP_BITS: f32 = 64.0;

/// Receiver settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CidRxConfig {
    /// Bell 202 or V.23. Both are centred on 1700 Hz, so either setting decodes either
    /// standard; the setting scales the discriminator so that its own tones read ±1.
    pub standard: FskStandard,
    /// Weakest carrier detected, dBm0 (default −48, clamped to −70 … 0; carrier drops 3 dB
    /// lower).
    pub min_level_dbm0: f32,
    /// Continuous mark, in bits, that must precede the first character (default 40; the
    /// standards send 180, or 80 for call waiting). Longer rejects more noise.
    pub min_mark_bits: u16,
}

impl CidRxConfig {
    /// Defaults for `standard`: −48 dBm0, 40 mark bits.
    pub fn new(standard: FskStandard) -> Self {
        Self {
            standard,
            min_level_dbm0: -48.0,
            min_mark_bits: 40,
        }
    }
}

impl Default for CidRxConfig {
    /// [`CidRxConfig::new`] with Bell 202.
    fn default() -> Self {
        Self::new(FskStandard::Bell202)
    }
}

/// What the receiver reports.
#[derive(Debug, Clone, PartialEq, Eq)]
#[expect(
    clippy::large_enum_variant,
    reason = "fixed-size by design: no heap after construction"
)]
pub enum CidEvent {
    /// A message passed every check.
    Message {
        /// Index (from 0, counting every sample given to `process` since `new`/`reset`) of the
        /// sample at which the checksum character's stop bit was read. The demodulator's delay
        /// puts it about 1.3 ms after the stop bit's centre.
        at: u64,
        /// `Sdmf` or `Mdmf` (ETSI frames report `Mdmf`).
        format: Format,
        /// The content.
        message: Message,
    },
    /// A frame was received but rejected; nothing of it is reported as a message.
    Error {
        /// Sample index at which the error was found.
        at: u64,
        /// What was wrong: [`CidError::Checksum`], [`CidError::Truncated`] (carrier lost or a
        /// long pause mid-frame), [`CidError::Framing`], [`CidError::UnknownType`], or a field
        /// error from [`decode`].
        error: CidError,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting for carrier and a qualifying mark run.
    Hunt,
    /// Mark qualified; waiting for the first start bit.
    Armed,
    /// Collecting frame bytes.
    Frame,
}

/// Caller-ID FSK receiver (Bell 202 / V.23, on-hook or call waiting).
///
/// Feed audio with [`process`](Self::process) in blocks of any size; take results with
/// [`poll_event`](Self::poll_event). The queue holds [`EVENT_CAPACITY`] events; when it is full
/// `process` stops and returns how many samples it consumed, and the caller must poll before
/// feeding the rest. A result never depends on how the audio was split into blocks.
///
/// ```
/// use tipring_dsp::cid::*;
/// let mut id = CallerId::default();
/// id.datetime = Some(*b"12251830");
/// id.number = Some("2015550123".try_into().unwrap());
/// let msg = Message::CallerId(id);
///
/// let mut tx = FskModulator::new(FskConfig::on_hook(FskStandard::Bell202));
/// tx.load_message(&msg, Format::Sdmf).unwrap();
/// let mut rx = CidReceiver::new(CidRxConfig::new(FskStandard::Bell202));
/// let mut block = [0i16; 160];
/// let mut got = None;
/// for _ in 0..50 {
///     let n = tx.generate(&mut block);
///     block[n..].fill(0); // silence after the burst
///     assert_eq!(rx.process(&block), block.len());
///     while let Some(ev) = rx.poll_event() {
///         got = Some(ev);
///     }
/// }
/// match got {
///     Some(CidEvent::Message { message, .. }) => assert_eq!(message, msg),
///     other => panic!("{other:?}"),
/// }
/// ```
#[derive(Debug, Clone)]
pub struct CidReceiver {
    cfg: CidRxConfig,
    front: FskFrontEnd,
    uart: Uart,
    state: State,
    mark_run: u32,
    min_mark_samples: u32,
    /// Samples since the last character (in `Frame`).
    gap: u32,
    frame: Frame,
    /// Sample index of the next sample.
    now: u64,
    events: Deque<CidEvent, EVENT_CAPACITY>,
}

impl CidReceiver {
    /// A receiver, idle.
    pub fn new(cfg: CidRxConfig) -> Self {
        Self {
            cfg,
            front: FskFrontEnd::new(cfg.standard, cfg.min_level_dbm0),
            uart: Uart::new(),
            state: State::Hunt,
            mark_run: 0,
            min_mark_samples: (f32::from(cfg.min_mark_bits.max(1)) * BIT) as u32,
            gap: 0,
            frame: Frame::new(),
            now: 0,
            events: Deque::new(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &CidRxConfig {
        &self.cfg
    }

    /// Back to the state of `new`: filters cleared, sample counter at 0, queue emptied.
    pub fn reset(&mut self) {
        self.front.reset();
        self.uart.reset(0.0);
        self.state = State::Hunt;
        self.mark_run = 0;
        self.gap = 0;
        self.frame.clear();
        self.now = 0;
        self.events.clear();
    }

    /// Samples consumed since `new`/`reset` (the index the next sample will get).
    pub fn samples_seen(&self) -> u64 {
        self.now
    }

    /// Takes the oldest pending event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<CidEvent> {
        self.events.pop_front()
    }

    /// Demodulates `samples`; returns how many were consumed. That is `samples.len()` unless
    /// the event queue filled up, in which case the rest must be fed again after
    /// [`poll_event`](Self::poll_event).
    #[must_use = "fewer samples than given are consumed when the event queue is full"]
    pub fn process(&mut self, samples: &[i16]) -> usize {
        for (i, &x) in samples.iter().enumerate() {
            if self.events.is_full() {
                return i;
            }
            self.push(x);
        }
        samples.len()
    }

    fn push(&mut self, x: i16) {
        let at = self.now;
        self.now += 1;
        let s = self.front.push(x);
        match self.state {
            State::Hunt => {
                if s.carrier && s.value < MARK_CONFIDENCE {
                    self.mark_run += 1;
                    if self.mark_run >= self.min_mark_samples {
                        self.state = State::Armed;
                        self.uart.reset(s.value);
                    }
                } else {
                    self.mark_run = 0;
                }
            }
            State::Armed => {
                if !s.carrier {
                    self.hunt();
                    return;
                }
                match self.uart.push(s.value) {
                    Some(UartOut::Byte(b)) => {
                        self.frame.clear();
                        // Empty 258-byte buffer.
                        let _ = self.frame.push(b);
                        self.gap = 0;
                        self.state = State::Frame;
                    }
                    Some(UartOut::FramingError(_)) => {
                        self.fail(at, CidError::Framing { byte_index: 0 })
                    }
                    None => {}
                }
            }
            State::Frame => {
                let expected = self.expected_len();
                if !s.carrier {
                    let received = self.frame.len();
                    self.fail(at, CidError::Truncated { expected, received });
                    return;
                }
                match self.uart.push(s.value) {
                    Some(UartOut::Byte(b)) => {
                        self.gap = 0;
                        // A frame never exceeds 258 bytes: it completes at `expected_len`.
                        let _ = self.frame.push(b);
                        if Some(self.frame.len()) == self.expected_len() {
                            let ev = match decode(&self.frame) {
                                Ok(d) => CidEvent::Message {
                                    at,
                                    format: d.format,
                                    message: d.message,
                                },
                                Err(error) => CidEvent::Error { at, error },
                            };
                            // `process` only calls `push` with room in the queue.
                            let _ = self.events.push_back(ev);
                            self.hunt();
                        }
                    }
                    Some(UartOut::FramingError(_)) => {
                        let byte_index = self.frame.len();
                        self.fail(at, CidError::Framing { byte_index });
                    }
                    None => {
                        if !self.uart.in_char() {
                            self.gap += 1;
                            if self.gap as f32 > MAX_GAP_BITS * BIT {
                                let received = self.frame.len();
                                self.fail(at, CidError::Truncated { expected, received });
                            }
                        }
                    }
                }
            }
        }
    }

    /// Frame length announced by the length byte, once received.
    fn expected_len(&self) -> Option<usize> {
        self.frame.get(1).map(|&l| usize::from(l) + 3)
    }

    fn fail(&mut self, at: u64, error: CidError) {
        let _ = self.events.push_back(CidEvent::Error { at, error });
        self.hunt();
    }

    fn hunt(&mut self) {
        self.state = State::Hunt;
        self.mark_run = 0;
        self.frame.clear();
    }
}
