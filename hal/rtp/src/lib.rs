//! RTP session layer (work in progress).
#![deny(missing_docs)]
