//! The adaptive jitter buffer: audio addressed by timestamp, played out on the media clock.
//!
//! # What does it do?
//! Holds a call's received audio, decoded to 8 kHz, from arrival until it is due, and plays
//! it out in whatever frame size the media thread ticks with. Packets may carry any duration
//! (10, 20, 30, 40, 60 ms…) independent of the tick, arrive out of order, late, twice or not
//! at all. Its delay adapts to the jitter it measures, between a minimum and a maximum:
//!
//! * **Late packet → grow at once.** A packet that arrives while its samples are still being
//!   concealed moves the playout point back to it (the concealment played becomes the added
//!   delay: nothing else is inserted). Any late packet raises the target delay.
//! * **Target.** The delay needed to catch the latest packet seen recently: the peak of each
//!   packet's delay relative to the fastest one (its *delay variation*), decaying with a 10 s
//!   time constant, plus one tick, clamped to the configured minimum and maximum.
//! * **Reaching the target.** Below the target, the buffer stretches: in quiet audio it
//!   repeats up to half a tick, in speech it plays one pitch period twice (cross-faded). Above
//!   the target plus 10 ms it shrinks: in quiet audio it drops up to 10 ms per tick, in
//!   voiced speech it removes one pitch period (overlap-added) every other tick, and above the
//!   maximum on every tick.
//! * **Missing audio** is concealed ([`tipring_dsp::plc`] for G.711); before the stream
//!   starts, and once concealment has faded out (60 ms), the output is silence.
//!
//! # How does it work?
//! Positions are 8 kHz sample numbers on the receiver's timeline (the RTP timestamp, divided
//! down to 8 kHz and offset, see [`Receiver`](crate::Receiver)). The store is a ring of
//! `max delay + headroom` samples with one presence bit per sample, covering positions
//! `play .. play + capacity`; consumed positions are cleared as the playout point passes.
//!
//! Delay is measured against the fastest packet: each packet's *relative delay* is
//! `now − position`; its minimum over the last 5–10 s (two 5 s buckets, so clock drift and
//! route changes age out) is the fastest path. The playout delay is then
//! `now − min relative delay − play`: how long after the fastest possible arrival a sample
//! is played. A packet whose relative delay exceeds the minimum by `v` arrives in time if
//! the delay is at least `v` plus one tick, hence the target.

use crate::jitter_store::Store;
use tipring_dsp::plc::{self, Plc};

/// 10 ms: how far above the target the delay may be before the buffer shrinks.
const HYSTERESIS: i64 = 80;
/// Delay-variation peak decay time constant, samples (10 s).
const PEAK_TAU: f32 = 80_000.0;
/// Length of the buckets of the minimum relative delay, samples (5 s).
const BUCKET: u64 = 40_000;
/// Mean square below which audio counts as quiet (RMS 100, about −44 dBm0).
const QUIET_MS: f32 = 100.0 * 100.0;
/// Cross-fade for drops and repeats in quiet audio, samples.
const QUIET_FADE: usize = 16;
/// Normalised correlation above which audio counts as voiced for time-scaling.
const VOICED: f32 = 0.6;
/// First wait, in ticks, after a pitch analysis found nothing to cut (100 ms at 20 ms).
const SHRINK_RETRY_MIN: i32 = 5;
/// Longest such wait (640 ms at 20 ms ticks).
const SHRINK_RETRY_MAX: i32 = 32;
/// Largest frame handled in one step; longer pulls are split.
pub const STEP_MAX: usize = 160;

/// Telephone events covering parts of the timeline, whose audio is replaced with silence.
pub trait Squelch {
    /// Whether every position of `from .. to` is squelched.
    fn covers(&self, from: i64, to: i64) -> bool;
    /// Zeroes the squelched samples of `out`, which holds positions from `from` on; returns
    /// how many.
    fn apply(&self, from: i64, out: &mut [i16]) -> usize;
}

/// No squelch at all.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoSquelch;

impl Squelch for NoSquelch {
    fn covers(&self, _: i64, _: i64) -> bool {
        false
    }
    fn apply(&self, _: i64, _: &mut [i16]) -> usize {
        0
    }
}

/// What a pull produced, sample counts by origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[must_use]
pub struct Pulled {
    /// Samples of received audio (time-scaled audio included).
    pub received: u32,
    /// Samples concealed for audio that did not arrive in time.
    pub concealed: u32,
    /// Samples of silence: the stream had not started, or concealment had faded out.
    pub silence: u32,
    /// Samples silenced because a telephone event covered them: received audio replaced,
    /// or missing audio (the sender sent events instead) not concealed. The other three
    /// counts exclude the missing ones, so all four add up to at least the pull's length.
    pub squelched: u32,
    /// Samples by which the buffer stretched (positive) or shrank (negative) the audio.
    pub stretched: i32,
    /// Playout delay after this pull, in 8 kHz samples.
    pub delay: u32,
}

/// Where an arriving packet goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// In the window: store it (the part before the playout point, if any, is clipped).
    Store,
    /// Too late: every sample has been played. `lateness` in samples.
    Late {
        /// How far behind the playout point its start is.
        lateness: i64,
    },
    /// Late, but its samples are being concealed right now: move the playout point back to
    /// `to` and store it.
    Rewind {
        /// New playout point.
        to: i64,
    },
    /// Beyond the window: drop.
    TooEarly,
    /// The newest packet is so far from the playout schedule that the stream must have
    /// jumped (timestamp jump, sender restart, long stall): re-anchor the timeline.
    Resync,
}

/// Delay settings, in 8 kHz samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DelayLimits {
    /// Smallest target delay.
    pub min: i64,
    /// Largest target delay.
    pub max: i64,
    /// Target at the start of a stream.
    pub initial: i64,
}

/// Counters of the jitter buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct JitterCounters {
    /// Samples of received audio played.
    pub played: u64,
    /// Samples concealed.
    pub concealed: u64,
    /// Samples of silence played (not started, faded out).
    pub silence: u64,
    /// Samples inserted by stretching.
    pub stretched: u64,
    /// Samples removed by shrinking.
    pub shrunk: u64,
    /// Late packets turned into added delay by moving the playout point back.
    pub rewinds: u32,
    /// Samples skipped because no pull came for them (the caller's thread ran late): the
    /// playout point follows the clock, so a missed tick drops its audio instead of adding
    /// its length to the delay for good.
    pub skipped: u64,
}

/// The jitter buffer. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct JitterBuffer {
    store: Store,
    synced: bool,
    /// Next position to play.
    play: i64,
    /// First position of the stream: silence before it.
    start: i64,
    /// Start of the concealment run in progress, if the last samples played were concealed.
    conceal_from: Option<i64>,
    /// Minimum relative delay (`now − position`) in the current and previous bucket.
    rel_min: [i64; 2],
    bucket_start: u64,
    /// Delay-variation peak (samples) and when it was last decayed.
    peak: f32,
    peak_at: u64,
    limits: DelayLimits,
    target: i64,
    /// Length of the last pull (one tick).
    tick: i64,
    ticks_since_shrink: i32,
    /// Where on the clock the last pull ended (`u64::MAX`: no pull yet).
    pulled_to: u64,
    /// Ticks to wait after a pitch analysis found nothing to cut: doubles on each such
    /// analysis (from [`SHRINK_RETRY_MIN`] to [`SHRINK_RETRY_MAX`]), back to the minimum
    /// after a cut.
    shrink_retry: i32,
    plc: Plc,
    counters: JitterCounters,
}

impl JitterBuffer {
    /// A buffer holding `capacity` samples ahead of the playout point.
    pub fn new(capacity: usize, limits: DelayLimits) -> Self {
        Self {
            store: Store::new(capacity),
            synced: false,
            play: 0,
            start: 0,
            conceal_from: None,
            rel_min: [i64::MAX; 2],
            bucket_start: 0,
            peak: 0.0,
            peak_at: 0,
            limits,
            target: limits.initial,
            tick: STEP_MAX as i64,
            ticks_since_shrink: 0,
            pulled_to: u64::MAX,
            shrink_retry: SHRINK_RETRY_MIN,
            plc: Plc::new(),
            counters: JitterCounters::default(),
        }
    }

    /// Capacity in samples (positions `play .. play + capacity` can be stored).
    pub fn capacity(&self) -> usize {
        self.store.capacity()
    }

    /// Bytes of heap the buffer holds.
    pub fn heap_bytes(&self) -> usize {
        self.store.heap_bytes()
    }

    /// Whether a stream has started.
    pub fn is_synced(&self) -> bool {
        self.synced
    }

    /// Next position to be played.
    pub fn play(&self) -> i64 {
        self.play
    }

    /// Target delay, samples.
    pub fn target(&self) -> i64 {
        self.target
    }

    /// Counters so far.
    pub fn counters(&self) -> JitterCounters {
        self.counters
    }

    /// Current playout delay at `now` (samples; 0 before the stream starts).
    pub fn delay(&self, now: u64) -> i64 {
        if !self.synced {
            return 0;
        }
        clock(now)
            .saturating_sub(self.rel_min())
            .saturating_sub(self.play)
    }

    fn rel_min(&self) -> i64 {
        self.rel_min[0].min(self.rel_min[1])
    }

    /// Where the first packet of a (re)started stream goes: the target delay ahead of the
    /// playout point.
    pub fn anchor_position(&self) -> i64 {
        self.play + self.target
    }

    /// Starts the stream with a first packet at `pos` arriving at `now`; `pos` should be
    /// [`anchor_position`](Self::anchor_position) (or anything, for the very first stream).
    pub fn start(&mut self, now: u64, pos: i64) {
        if !self.synced {
            self.synced = true;
            self.play = pos - self.target;
            self.start = pos;
            self.store.clear_all();
        } else {
            // A resync: what is buffered before `pos` still plays; anything at or after it
            // belongs to the old timeline.
            self.store.clear_from(pos, self.play);
        }
        let rel = clock(now).saturating_sub(pos);
        self.rel_min = [rel, rel];
        self.bucket_start = now;
    }

    /// Decides what to do with a packet of `len` samples at `pos` arriving at `now`;
    /// `newest` if it is the highest sequence number so far.
    pub fn place(&self, now: u64, pos: i64, len: i64, newest: bool) -> Placement {
        let end = pos + len;
        let cap = self.store.capacity() as i64;
        if end <= self.play || pos < self.play {
            let lateness = self.play - pos;
            if newest && lateness > self.limits.max + len + HYSTERESIS {
                return Placement::Resync;
            }
            if let Some(from) = self.conceal_from {
                // Its samples (from `from` on) are being concealed: take them back.
                let to = pos.max(from);
                let room = self.limits.max + HYSTERESIS - self.delay(now);
                let to = to.max(self.play - room.max(0));
                if to < self.play && self.store.highest_end() <= to + cap && end > to {
                    return Placement::Rewind { to };
                }
            }
            if end <= self.play {
                return Placement::Late { lateness };
            }
            return Placement::Store;
        }
        if end - self.play > cap {
            return if newest {
                Placement::Resync
            } else {
                Placement::TooEarly
            };
        }
        if newest && pos - self.play > self.limits.max + len + 2 * HYSTERESIS {
            // The timestamp ran ahead of the clock (a forward jump): waiting would stall.
            return Placement::Resync;
        }
        Placement::Store
    }

    /// Moves the playout point back to `to` (see [`Placement::Rewind`]).
    pub fn rewind(&mut self, to: i64) {
        if to < self.play {
            self.play = to;
            self.conceal_from = None;
            self.counters.rewinds += 1;
        }
    }

    /// Stores `len` samples at `pos` (clipped to the window), produced by `fill(dst, offset)`
    /// which writes the packet's samples `offset .. offset + dst.len()` into `dst`.
    pub fn write(&mut self, pos: i64, len: usize, fill: impl FnMut(&mut [i16], usize)) {
        self.store.write(self.play, pos, len, fill);
    }

    /// Records a packet's arrival for the delay statistics (every audio packet, late or not).
    pub fn note_arrival(&mut self, now: u64, pos: i64) {
        if !self.synced {
            return;
        }
        let rel = clock(now).saturating_sub(pos);
        if now.saturating_sub(self.bucket_start) >= BUCKET {
            self.rel_min[1] = self.rel_min[0];
            self.rel_min[0] = i64::MAX;
            self.bucket_start = now;
        }
        self.rel_min[0] = self.rel_min[0].min(rel);
        let v = (rel - self.rel_min()).max(0) as f32;
        self.decay_peak(now);
        self.peak = self.peak.max(v);
    }

    fn decay_peak(&mut self, now: u64) {
        let dt = now.saturating_sub(self.peak_at) as f32;
        if dt > 0.0 {
            self.peak *= (-dt / PEAK_TAU).exp();
            self.peak_at = now;
        }
    }

    /// Fills `out` (any length) with the audio due at `now`, silencing what `squelch`
    /// covers.
    ///
    /// Pulls are expected back to back on the clock (each at the `now` where the last one
    /// ended). When one comes later, the audio due in between is skipped
    /// ([`JitterCounters::skipped`]): it can no longer be played on time, and playing it
    /// late would add the gap to the delay, which only time-scaling (costly, one pitch
    /// period per tick) would take away again.
    pub fn pull(&mut self, now: u64, out: &mut [i16], squelch: &impl Squelch) -> Pulled {
        if self.pulled_to != u64::MAX && now > self.pulled_to && self.synced {
            let gap = (now - self.pulled_to).min(i64::MAX as u64) as i64;
            self.play = self.play.saturating_add(gap);
            self.counters.skipped += gap as u64;
        }
        self.pulled_to = now.saturating_add(out.len() as u64);
        let mut pulled = Pulled::default();
        let mut offset = 0u64;
        for chunk in out.chunks_mut(STEP_MAX) {
            let from = self.play;
            self.step(now + offset, chunk, &mut pulled, squelch);
            pulled.squelched += squelch.apply(from, chunk) as u32;
            offset += chunk.len() as u64;
        }
        pulled.delay = self.delay(now + offset).clamp(0, i64::from(u32::MAX)) as u32;
        pulled
    }

    /// One step of at most [`STEP_MAX`] samples.
    fn step(&mut self, now: u64, out: &mut [i16], pulled: &mut Pulled, squelch: &impl Squelch) {
        let n = out.len() as i64;
        if !self.synced {
            out.fill(0);
            self.plc.good(out);
            pulled.silence += n as u32;
            self.counters.silence += n as u64;
            return;
        }
        self.tick = n.max(1);
        self.decay_peak(now);
        self.target = (self.peak as i64 + self.tick).clamp(self.limits.min, self.limits.max);
        let excess = self.delay(now) - self.target;
        self.ticks_since_shrink = self.ticks_since_shrink.saturating_add(1);
        let consumed = if excess > HYSTERESIS {
            self.shrink(out, excess)
        } else if excess < -(HYSTERESIS / 4) {
            self.stretch(out, -excess)
        } else {
            None
        };
        let consumed = match consumed {
            Some(c) => {
                pulled.received += n as u32;
                pulled.stretched += (n - c) as i32;
                if c > n {
                    self.counters.shrunk += (c - n) as u64;
                } else {
                    self.counters.stretched += (n - c) as u64;
                }
                self.counters.played += n as u64;
                self.conceal_from = None;
                self.plc.good(out);
                c
            }
            None => {
                self.render(out, pulled, squelch);
                n
            }
        };
        let from = self.play;
        self.play += consumed;
        self.store.clear(from, self.play);
    }

    /// Plays positions `play .. play + n` as they are: received, concealed or silent.
    fn render(&mut self, out: &mut [i16], pulled: &mut Pulled, squelch: &impl Squelch) {
        let n = out.len();
        let mut i = 0;
        while i < n {
            let pos = self.play + i as i64;
            let present = self.store.is_present(pos);
            let mut j = i + self.store.run_len(pos, n - i).max(1);
            // Do not let a run cross the stream's start.
            if !present && pos < self.start && self.start < self.play + j as i64 {
                j = (self.start - self.play) as usize;
            }
            let run = &mut out[i..j];
            let len = run.len() as u32;
            if present {
                self.store.read(pos, run);
                self.plc.good(run);
                self.conceal_from = None;
                pulled.received += len;
                self.counters.played += u64::from(len);
            } else if pos < self.start {
                run.fill(0);
                self.plc.good(run);
                pulled.silence += len;
                self.counters.silence += u64::from(len);
            } else if squelch.covers(pos, pos + i64::from(len)) {
                // Events were sent instead of this audio: nothing to conceal.
                run.fill(0);
                self.plc.good(run);
                self.conceal_from = None;
            } else {
                if self.conceal_from.is_none() {
                    self.conceal_from = Some(pos);
                }
                let audible = plc::MUTE_AFTER.saturating_sub(self.plc.lost_samples());
                self.plc.conceal(run);
                let c = len.min(audible);
                pulled.concealed += c;
                pulled.silence += len - c;
                self.counters.concealed += u64::from(c);
                self.counters.silence += u64::from(len - c);
            }
            i = j;
        }
    }

    /// Mean square of positions `from .. from + len`, if all are present.
    fn present_power(&self, from: i64, len: usize) -> Option<f32> {
        let mut sum = 0.0f32;
        for k in 0..len as i64 {
            sum += f32::from(self.store.sample(from + k)?).powi(2);
        }
        Some(sum / len.max(1) as f32)
    }

    /// The pitch period of the audio just played and whether it is voiced.
    fn history_period(&self) -> (usize, bool) {
        match plc::best_period(self.plc.history(), plc::PITCH_MIN, plc::PITCH_MAX) {
            Some((p, score)) => (p, score >= VOICED),
            None => (plc::PITCH_MAX, false),
        }
    }

    /// Plays `out` while consuming more than its length; returns the samples consumed, or
    /// `None` if shrinking is not possible or not due.
    fn shrink(&mut self, out: &mut [i16], excess: i64) -> Option<i64> {
        let n = out.len();
        let quiet_drop = (excess.min(80) as usize).min(n);
        if let Some(power) = self.present_power(self.play, n + quiet_drop)
            && power < QUIET_MS
            && quiet_drop > 0
        {
            self.splice(out, quiet_drop, QUIET_FADE.min(n));
            self.ticks_since_shrink = 0;
            self.shrink_retry = SHRINK_RETRY_MIN;
            return Some((n + quiet_drop) as i64);
        }
        let forced = excess > self.limits.max - self.target + HYSTERESIS;
        if self.ticks_since_shrink < 2 && !forced {
            return None;
        }
        let (period, voiced) = self.history_period();
        if (!voiced && !forced) || period as i64 > excess {
            // Not speech we can cut cleanly: try again later rather than every tick, later
            // each time (the pitch analysis is the costliest thing a tick can do, and a
            // buffer a little above its target on unvoiced audio would otherwise pay for
            // it five times a second for the whole call; quiet passages still shrink it at
            // once).
            self.ticks_since_shrink = 2 - self.shrink_retry;
            self.shrink_retry = (self.shrink_retry * 2).min(SHRINK_RETRY_MAX);
            return None;
        }
        self.present_power(self.play, n + period)?;
        self.splice(out, period, period.min(n));
        self.ticks_since_shrink = 0;
        self.shrink_retry = SHRINK_RETRY_MIN;
        Some((n + period) as i64)
    }

    /// `out[i] = x[i]` cross-faded over `fade` samples into `x[i + skip]`, where `x` is the
    /// stored audio from the playout point: removes `skip` samples.
    fn splice(&self, out: &mut [i16], skip: usize, fade: usize) {
        for (i, o) in out.iter_mut().enumerate() {
            let late = self
                .store
                .sample(self.play + (i + skip) as i64)
                .unwrap_or(0);
            *o = if i < fade {
                let early = self.store.sample(self.play + i as i64).unwrap_or(0);
                let w = (i + 1) as f32 / (fade + 1) as f32;
                mix(early, late, w)
            } else {
                late
            };
        }
    }

    /// Plays `out` while consuming less than its length; returns the samples consumed, or
    /// `None` if stretching is not possible.
    fn stretch(&mut self, out: &mut [i16], deficit: i64) -> Option<i64> {
        let n = out.len();
        let quiet_add = (deficit.min(n as i64 / 2)) as usize;
        let power = self.present_power(self.play, n)?;
        if power < QUIET_MS && quiet_add > 0 {
            // Play the first n − a samples, then those a samples again, cross-faded in.
            let keep = n - quiet_add;
            let fade = QUIET_FADE.min(quiet_add);
            for (i, o) in out.iter_mut().enumerate() {
                let natural = self.store.sample(self.play + i as i64).unwrap_or(0);
                *o = if i < keep {
                    natural
                } else {
                    let again = self
                        .store
                        .sample(self.play + (i - quiet_add) as i64)
                        .unwrap_or(0);
                    let k = i - keep;
                    if k < fade {
                        mix(natural, again, (k + 1) as f32 / (fade + 1) as f32)
                    } else {
                        again
                    }
                };
            }
            return Some(keep as i64);
        }
        // Speech: play the last period heard once more, then carry on where we were.
        let (period, _) = self.history_period();
        if period >= n {
            return None;
        }
        let overlap = (period / 4).max(1);
        let hist = self.plc.history();
        let base = hist.len() - period;
        for (i, o) in out.iter_mut().enumerate() {
            *o = if i < period {
                let again = hist[base + i];
                if i < overlap {
                    let natural = self.store.sample(self.play + i as i64).unwrap_or(0);
                    mix(natural, again, (i + 1) as f32 / (overlap + 1) as f32)
                } else {
                    again
                }
            } else {
                self.store
                    .sample(self.play + (i - period) as i64)
                    .unwrap_or(0)
            };
        }
        Some((n - period) as i64)
    }
}

/// The media clock as a signed count (saturating: no caller lives 36 million years).
fn clock(now: u64) -> i64 {
    i64::try_from(now).unwrap_or(i64::MAX)
}

/// `a·(1 − w) + b·w`, saturated.
fn mix(a: i16, b: i16, w: f32) -> i16 {
    tipring_dsp::osc::sat_i16(f32::from(a) * (1.0 - w) + f32::from(b) * w)
}
