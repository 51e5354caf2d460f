//! What a backend says when a command or a read fails, and whether to try again.

use crate::channel::ChannelKind;
use crate::ids::ChannelId;

/// What the caller should do about an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// Transient: the same request may succeed later (a ring was full, the device was busy).
    Retry,
    /// The request doesn't fit the channel's state or arguments: fix the request.
    Invalid,
    /// The channel can't do this at all (its kind or its backend lacks it).
    Unsupported,
    /// The device or channel is gone: stop using it.
    Gone,
}

/// A backend error. Holds only copied data, so returning one on the media path never
/// allocates. Messages name the channel, as an operator reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HalError {
    /// No channel with this number on this board (or in this shard).
    #[error("{channel}: no such channel on this board")]
    NoSuchChannel {
        /// The channel asked for.
        channel: ChannelId,
    },
    /// The command doesn't fit the channel's state.
    #[error("{channel}: cannot {command} while {state}")]
    InvalidState {
        /// The channel.
        channel: ChannelId,
        /// The command, as a verb (`"dial"`).
        command: &'static str,
        /// The channel's state (`"on hook"`).
        state: &'static str,
    },
    /// The channel's kind can't do this.
    #[error("{channel}: {kind} channels cannot {command}")]
    Unsupported {
        /// The channel.
        channel: ChannelId,
        /// Its kind.
        kind: ChannelKind,
        /// The command, as a verb.
        command: &'static str,
    },
    /// A bad argument (a digit string with a character that is not a digit).
    #[error("{channel}: bad {what}: {reason}")]
    BadArgument {
        /// The channel.
        channel: ChannelId,
        /// What was wrong (`"digits"`).
        what: &'static str,
        /// Why.
        reason: &'static str,
    },
    /// Something is in progress that this request would need; try again later.
    #[error("{channel}: {what} is busy")]
    Busy {
        /// The channel.
        channel: ChannelId,
        /// What is busy (`"the dialler"`).
        what: &'static str,
    },
    /// An operating-system call failed.
    #[error("{what}: {errno}")]
    Os {
        /// What was being done (`"timerfd read"`).
        what: &'static str,
        /// The error.
        errno: nix::errno::Errno,
    },
    /// The channel's device went away.
    #[error("{channel}: the device is gone")]
    Gone {
        /// The channel.
        channel: ChannelId,
    },
}

impl HalError {
    /// What to do about it.
    pub fn kind(&self) -> ErrorKind {
        match self {
            HalError::NoSuchChannel { .. }
            | HalError::InvalidState { .. }
            | HalError::BadArgument { .. } => ErrorKind::Invalid,
            HalError::Unsupported { .. } => ErrorKind::Unsupported,
            HalError::Busy { .. } => ErrorKind::Retry,
            HalError::Os { errno, .. } => match errno {
                nix::errno::Errno::EAGAIN | nix::errno::Errno::EINTR => ErrorKind::Retry,
                nix::errno::Errno::ENODEV | nix::errno::Errno::ENXIO => ErrorKind::Gone,
                _ => ErrorKind::Invalid,
            },
            HalError::Gone { .. } => ErrorKind::Gone,
        }
    }

    /// True when the same request may succeed later.
    pub fn is_retryable(&self) -> bool {
        self.kind() == ErrorKind::Retry
    }
}
