//! Why the model refused something.

use std::io;
use std::path::PathBuf;

/// Why mounting or controlling the model failed.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// FUSE cannot be used here (no `/dev/fuse`, or mounting is not permitted): a test
    /// should print the reason and skip.
    #[error("the FUSE DAHDI model is unavailable here: {0}")]
    Unavailable(String),
    /// The mount point could not be prepared.
    #[error("cannot prepare the mount point {path}: {source}")]
    MountPoint {
        /// The mount point.
        path: PathBuf,
        /// What the file system said.
        source: io::Error,
    },
    /// Mounting failed for another reason than permission.
    #[error("mounting the DAHDI model at {path} failed: {source}")]
    Mount {
        /// The mount point.
        path: PathBuf,
        /// What FUSE said.
        source: io::Error,
    },
    /// A thread of the model could not be started.
    #[error("cannot start the model's {what} thread: {source}")]
    Thread {
        /// Which thread.
        what: &'static str,
        /// What the OS said.
        source: io::Error,
    },
    /// The spec cannot be served.
    #[error("invalid model spec: {0}")]
    Spec(String),
    /// No such channel.
    #[error("the model has no channel {0}")]
    NoChannel(u32),
    /// No such span.
    #[error("the model has no span {0}")]
    NoSpan(u32),
    /// A control that does not fit the channel (ringing an FXS port, lifting the handset of
    /// an FXO port …).
    #[error("channel {channo} is {is}: {what} needs {needs}")]
    WrongPort {
        /// The channel.
        channo: u32,
        /// What the test asked for.
        what: &'static str,
        /// The kind of channel it needs.
        needs: &'static str,
        /// The kind it is.
        is: &'static str,
    },
    /// A control that does not fit the channel's present state (a flash while on hook …).
    #[error("channel {channo}: {what} is not possible now: {why}")]
    State {
        /// The channel.
        channo: u32,
        /// What the test asked for.
        what: &'static str,
        /// Why not.
        why: &'static str,
    },
    /// Unmounting failed.
    #[error("unmounting the DAHDI model at {path} failed: {source}")]
    Unmount {
        /// The mount point.
        path: PathBuf,
        /// What the OS said.
        source: io::Error,
    },
}
