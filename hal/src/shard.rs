//! The contract between a backend and a media thread.

use crate::channel::ChannelInfo;
use crate::error::HalError;
use crate::signal::{Command, Signal};

/// One media thread's share of a board: a fixed set of channels on one clock.
///
/// The media engine calls, every frame period:
/// 1. [`wait_tick`](Shard::wait_tick), which returns when the next frame is due (the card's
///    TDM clock on hardware, a timerfd for the sim and SIP, at once on a virtual clock);
/// 2. for each channel slot, [`read`](Shard::read) (the frame the far end sent during the
///    period) and [`write`](Shard::write) (the frame to send);
/// 3. [`poll_signal`](Shard::poll_signal) until `None`, and [`command`](Shard::command) for
///    what call control asked.
///
/// **Real time.** Every method except `wait_tick` returns without blocking; none allocates,
/// locks or logs. Errors are values ([`HalError`] holds only copied data).
pub trait Shard: Send {
    /// The channels, by slot (slot `i` is `channels()[i]`).
    fn channels(&self) -> &[ChannelInfo];

    /// Waits until the next frame is due; returns how many frame periods passed since the
    /// previous call (1 on time, more when the thread was late and frames were lost).
    ///
    /// # Errors
    /// The clock failed ([`HalError::Os`]).
    fn wait_tick(&mut self) -> Result<u64, HalError>;

    /// Copies the frame received on `slot` during the last period into `frame` (in the
    /// channel's encoding, [`AudioFormat::frame_bytes`](crate::AudioFormat::frame_bytes)
    /// long); returns the bytes written.
    ///
    /// # Errors
    /// An unknown slot, or the device failed.
    fn read(&mut self, slot: usize, frame: &mut [u8]) -> Result<usize, HalError>;

    /// Sends `frame` (the channel's encoding, one frame) on `slot`.
    ///
    /// # Errors
    /// An unknown slot, or the device failed.
    fn write(&mut self, slot: usize, frame: &[u8]) -> Result<(), HalError>;

    /// Carries out `command` on `slot`.
    ///
    /// # Errors
    /// The command doesn't fit the channel's kind or state, or the device failed; the error
    /// says which and whether to retry.
    fn command(&mut self, slot: usize, command: &Command) -> Result<(), HalError>;

    /// The next signal raised on any slot, oldest first.
    fn poll_signal(&mut self) -> Option<(usize, Signal)>;
}
