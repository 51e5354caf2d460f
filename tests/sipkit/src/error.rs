//! The crate's one error type.

use std::path::PathBuf;

/// What went wrong. Every message says which tool, file or argument was at fault.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An argument out of its range or a value that cannot be represented.
    #[error("invalid {what}: {why}")]
    Invalid {
        /// The argument or field.
        what: &'static str,
        /// Why it was refused.
        why: String,
    },
    /// An I/O operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done (names the file or socket).
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A file or datagram does not have the expected format.
    #[error("malformed {what}: {why}")]
    Malformed {
        /// What was being parsed.
        what: &'static str,
        /// What is wrong with it.
        why: String,
    },
    /// A required program or file is missing.
    #[error("{what} not found at {path}")]
    Missing {
        /// What is missing ("sipp", "scenario file", …).
        what: &'static str,
        /// Where it was looked for.
        path: PathBuf,
    },
    /// A child process did not start (after retries with fresh ports where that applies).
    #[error("{tool} did not start: {why}")]
    Start {
        /// `sipp` or `baresip`.
        tool: &'static str,
        /// Its exit status and output tail, or what timed out.
        why: String,
    },
    /// A child process ran, but did not do what was asked.
    #[error("{tool} failed: {why}")]
    Failed {
        /// `sipp` or `baresip`.
        tool: &'static str,
        /// The summary, with the tool's own log tail.
        why: String,
    },
    /// Something awaited did not happen before its deadline.
    #[error("timed out waiting for {what}{detail}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// Extra context (what was seen instead), empty or starting with `: `.
        detail: String,
    },
}

impl Error {
    /// An [`Error::Io`] with its context.
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }

    /// An [`Error::Invalid`].
    pub(crate) fn invalid(what: &'static str, why: impl Into<String>) -> Self {
        Self::Invalid {
            what,
            why: why.into(),
        }
    }

    /// An [`Error::Malformed`].
    pub(crate) fn malformed(what: &'static str, why: impl Into<String>) -> Self {
        Self::Malformed {
            what,
            why: why.into(),
        }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
