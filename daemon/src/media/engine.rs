//! The media threads: each owns one [`Shard`] of the board and its channels' media, and
//! ticks on the shard's clock.

use super::channel::{ChannelMedia, FRAME, Sink, Trash};
use super::msg::{ChannelEvent, MediaCommand, MediaEvent};
use super::stats::TickStats;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tipring_dsp::echo::EchoStats;
use tipring_dsp::progress::plan::TonePlan;
use tipring_dsp::progress::{ProgressConfig, ProgressDetector};
use tipring_hal::{ChannelId, ChannelInfo, HalError, MAX_FRAME_BYTES, Shard};

/// Orders waiting per media thread.
const COMMAND_CAPACITY: usize = 4096;
/// Events waiting per media thread.
const EVENT_CAPACITY: usize = 16_384;

/// The event and trash rings of one media thread, with their drop counters.
struct Events<'a> {
    ring: &'a mut rtrb::Producer<ChannelEvent>,
    trash: &'a mut rtrb::Producer<Trash>,
    stats: &'a TickStats,
    channel: ChannelId,
    at_ms: u64,
}

impl Sink for Events<'_> {
    fn event(&mut self, event: MediaEvent) {
        let ev = ChannelEvent {
            channel: self.channel,
            at_ms: self.at_ms,
            event,
        };
        if self.ring.push(ev).is_err() {
            self.stats.events_lost.fetch_add(1, Ordering::Relaxed);
        }
    }
    fn discard(&mut self, trash: Trash) {
        if let Err(rtrb::PushError::Full(t)) = self.trash.push(trash) {
            // The control plane stopped collecting: better a leak than a free (or a wait)
            // on the media thread.
            std::mem::forget(t);
            self.stats.leaked.fetch_add(1, Ordering::Relaxed);
        }
    }
    fn bridge_slip(&mut self) {
        self.stats.bridge_slips.fetch_add(1, Ordering::Relaxed);
    }
}

/// One media thread's work: a shard and its channels. [`tick`](Self::tick) runs one frame
/// period; [`spawn`] runs it on a dedicated thread, and tests on a virtual clock call it
/// directly.
pub struct MediaShard {
    shard: Box<dyn Shard>,
    channels: Vec<ChannelMedia>,
    commands: rtrb::Consumer<(usize, MediaCommand)>,
    events: rtrb::Producer<ChannelEvent>,
    trash: rtrb::Producer<Trash>,
    stats: Arc<TickStats>,
    frame_ms: u64,
    now_ms: u64,
}

impl std::fmt::Debug for MediaShard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaShard")
            .field("channels", &self.channels.len())
            .field("now_ms", &self.now_ms)
            .finish_non_exhaustive()
    }
}

impl MediaShard {
    /// Runs one frame period: waits for the clock, applies the control plane's orders,
    /// then for every channel reads its frame, runs the detectors, mixes and writes what it
    /// sends, and passes the line's signals on. Never allocates, locks or logs.
    ///
    /// # Errors
    /// The shard's clock failed; per-channel errors are reported as events instead.
    pub fn tick(&mut self) -> Result<(), HalError> {
        let missed = self.shard.wait_tick()?.saturating_sub(1);
        self.work(missed);
        Ok(())
    }

    /// The tick after the clock: everything but the wait.
    fn work(&mut self, missed: u64) {
        if missed > 0 {
            self.stats.missed.fetch_add(missed, Ordering::Relaxed);
        }
        let at_ms = self.now_ms;
        while let Ok((slot, command)) = self.commands.pop() {
            let Some(ch) = self.channels.get_mut(slot) else {
                self.stats.bad_commands.fetch_add(1, Ordering::Relaxed);
                continue;
            };
            let mut sink = Events {
                ring: &mut self.events,
                trash: &mut self.trash,
                stats: &self.stats,
                channel: ch.info.id,
                at_ms,
            };
            if let MediaCommand::Line(line) = &command {
                if let Err(e) = self.shard.command(slot, line) {
                    sink.event(MediaEvent::LineError(e));
                }
            } else {
                ch.apply(command, &mut sink);
            }
        }
        let mut bytes = [0u8; MAX_FRAME_BYTES];
        let mut pcm = [0i16; FRAME];
        for (slot, ch) in self.channels.iter_mut().enumerate() {
            let mut sink = Events {
                ring: &mut self.events,
                trash: &mut self.trash,
                stats: &self.stats,
                channel: ch.info.id,
                at_ms,
            };
            let format = ch.info.format;
            let samples = format.period.samples();
            let frame = &mut pcm[..samples];
            match self.shard.read(slot, &mut bytes[..format.frame_bytes()]) {
                Ok(n) => {
                    let got = format.encoding.decode(&bytes[..n], frame);
                    frame[got..].fill(0);
                }
                Err(e) => {
                    frame.fill(0);
                    sink.event(MediaEvent::LineError(e));
                }
            }
            ch.cancel_echo(frame);
            ch.receive(frame, &mut sink);
            ch.transmit(frame, &mut sink);
            ch.sent(frame);
            let n = format.encoding.encode(frame, &mut bytes) * format.encoding.bytes_per_sample();
            if let Err(e) = self.shard.write(slot, &bytes[..n]) {
                sink.event(MediaEvent::LineError(e));
            }
        }
        while let Some((slot, signal)) = self.shard.poll_signal() {
            if let Some(ch) = self.channels.get(slot) {
                Events {
                    ring: &mut self.events,
                    trash: &mut self.trash,
                    stats: &self.stats,
                    channel: ch.info.id,
                    at_ms,
                }
                .event(MediaEvent::Signal(signal));
            }
        }
        self.now_ms += self.frame_ms * (1 + missed);
        self.stats.ticks.fetch_add(1, Ordering::Relaxed);
    }

    /// The channels this thread serves.
    pub fn channels(&self) -> impl Iterator<Item = &ChannelInfo> {
        self.channels.iter().map(|c| &c.info)
    }

    /// A channel's echo canceller figures: its statistics and the energy it received and
    /// passed on since start (their ratio is the ERLE while only the echo comes back).
    /// `None` for channels without a canceller.
    pub fn echo(&self, channel: ChannelId) -> Option<(EchoStats, f64, f64)> {
        let ch = self.channels.iter().find(|c| c.info.id == channel)?;
        let e = ch.echo()?;
        Some((e.stats(), e.energy_in, e.energy_out))
    }

    /// Its counters.
    pub fn stats(&self) -> &Arc<TickStats> {
        &self.stats
    }
}

/// The control plane's end of the media threads: orders in, events out.
#[derive(Debug)]
pub struct MediaLink {
    commands: Vec<rtrb::Producer<(usize, MediaCommand)>>,
    events: Vec<rtrb::Consumer<ChannelEvent>>,
    trash: Vec<rtrb::Consumer<Trash>>,
    /// Per channel: (media thread, slot).
    route: std::collections::HashMap<ChannelId, (usize, usize)>,
    channels: Vec<ChannelInfo>,
    stats: Vec<Arc<TickStats>>,
}

/// Why an order did not reach a media thread.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The channel is not on this board.
    #[error("{0}: no such channel on this board")]
    NoSuchChannel(ChannelId),
    /// The media thread's order ring is full: it is not keeping up. Try again.
    #[error("{0}: the media thread is not keeping up; try again")]
    Full(ChannelId),
}

impl MediaLink {
    /// Sends `command` for `channel`; it takes effect at the channel's next tick.
    ///
    /// # Errors
    /// Unknown channel, or the media thread's ring is full.
    pub fn send(&mut self, channel: ChannelId, command: MediaCommand) -> Result<(), SendError> {
        let &(thread, slot) = self
            .route
            .get(&channel)
            .ok_or(SendError::NoSuchChannel(channel))?;
        self.commands[thread]
            .push((slot, command))
            .map_err(|_| SendError::Full(channel))
    }

    /// The oldest event from any media thread. Also frees what the media threads let go
    /// of (buffers and rings of ended operations).
    pub fn poll(&mut self) -> Option<ChannelEvent> {
        for t in &mut self.trash {
            while t.pop().is_ok() {}
        }
        self.events.iter_mut().find_map(|r| r.pop().ok())
    }

    /// Every channel of the board, in order.
    pub fn channels(&self) -> &[ChannelInfo] {
        &self.channels
    }

    /// Each media thread's counters.
    pub fn stats(&self) -> &[Arc<TickStats>] {
        &self.stats
    }
}

/// Builds the media side of a board: one [`MediaShard`] per shard, and the link to them.
/// `plan` is the country's tone plan for call-progress detection.
pub fn build(shards: Vec<Box<dyn Shard>>, plan: &'static TonePlan) -> (Vec<MediaShard>, MediaLink) {
    let proto = ProgressDetector::new(ProgressConfig::new(plan));
    let mut link = MediaLink {
        commands: Vec::new(),
        events: Vec::new(),
        trash: Vec::new(),
        route: Default::default(),
        channels: Vec::new(),
        stats: Vec::new(),
    };
    let mut out = Vec::new();
    for (t, shard) in shards.into_iter().enumerate() {
        let infos: Vec<ChannelInfo> = shard.channels().to_vec();
        let frame_ms = infos
            .first()
            .map_or(20, |i| u64::from(i.format.period.ms()));
        for (slot, info) in infos.iter().enumerate() {
            link.route.insert(info.id, (t, slot));
            link.channels.push(info.clone());
        }
        let (ctx, crx) = rtrb::RingBuffer::new(COMMAND_CAPACITY);
        let (etx, erx) = rtrb::RingBuffer::new(EVENT_CAPACITY);
        // Each channel lets go of at most a few things per tick (a playback, a recording, a
        // bridge); the control plane drains this at every poll.
        let (ttx, trx) = rtrb::RingBuffer::new(8 * infos.len() + 256);
        let stats = Arc::new(TickStats::default());
        link.commands.push(ctx);
        link.events.push(erx);
        link.trash.push(trx);
        link.stats.push(Arc::clone(&stats));
        out.push(MediaShard {
            channels: infos
                .into_iter()
                .map(|i| ChannelMedia::new(i, &proto))
                .collect(),
            shard,
            commands: crx,
            events: etx,
            trash: ttx,
            stats,
            frame_ms,
            now_ms: 0,
        });
    }
    link.channels.sort_by_key(|c| c.id);
    (out, link)
}

/// What a media thread could set up for real time, reported once by [`spawn`]'s caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RealtimeSetup {
    /// SCHED_FIFO at this priority, or why not.
    pub fifo: Result<i32, String>,
    /// Memory locked, or why not.
    pub mlock: Result<(), String>,
}

/// A running media thread.
#[derive(Debug)]
pub struct MediaThread {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<Result<(), HalError>>>,
    /// What the thread could set up for real time.
    pub realtime: RealtimeSetup,
}

impl MediaThread {
    /// Asks the thread to stop after its current tick and waits for it.
    ///
    /// # Errors
    /// The thread's clock failed (its error), or the thread panicked.
    pub fn stop(mut self) -> Result<(), String> {
        self.stop.store(true, Ordering::Relaxed);
        match self.handle.take().map(JoinHandle::join) {
            Some(Ok(Ok(()))) | None => Ok(()),
            Some(Ok(Err(e))) => Err(e.to_string()),
            Some(Err(_)) => Err("the media thread panicked".into()),
        }
    }
}

impl Drop for MediaThread {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Runs `shard` on a dedicated OS thread named `name`, ticking until stopped. Before the
/// first tick the thread asks for SCHED_FIFO at `priority` (if given) and locks memory; what
/// it got is in [`MediaThread::realtime`] for the caller to log once.
///
/// # Errors
/// The thread could not be started.
pub fn spawn(
    mut shard: MediaShard,
    name: &str,
    priority: Option<i32>,
) -> std::io::Result<MediaThread> {
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = std::sync::mpsc::channel();
    let flag = Arc::clone(&stop);
    let handle = std::thread::Builder::new()
        .name(name.to_string())
        .spawn(move || {
            let setup = RealtimeSetup {
                fifo: match priority {
                    Some(p) => super::rt::set_fifo(p).map(|()| p),
                    None => Err("not asked for".into()),
                },
                mlock: super::rt::lock_memory(),
            };
            let _ = tx.send(setup);
            let period = Duration::from_millis(shard.frame_ms);
            let mut due: Option<Instant> = None;
            while !flag.load(Ordering::Relaxed) {
                let missed = shard.shard.wait_tick()?.saturating_sub(1);
                let woke = Instant::now();
                // Lateness: how long after its due time the tick woke (the first tick sets
                // the schedule).
                let d = match due {
                    Some(d) => d + period * (1 + missed as u32),
                    None => woke,
                };
                shard
                    .stats
                    .note_lateness(woke.saturating_duration_since(d).as_nanos() as u64);
                due = Some(d);
                shard.work(missed);
                let busy = woke.elapsed().as_nanos() as u64;
                shard.stats.busy_ns.fetch_add(busy, Ordering::Relaxed);
            }
            Ok(())
        })?;
    let realtime = rx.recv().unwrap_or(RealtimeSetup {
        fifo: Err("the thread ended early".into()),
        mlock: Err("the thread ended early".into()),
    });
    Ok(MediaThread {
        stop,
        handle: Some(handle),
        realtime,
    })
}
