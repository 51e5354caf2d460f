//! Tipring's SIP core: everything a trunk needs between the socket and call control, as
//! sans-IO state machines (no sockets, no threads, no clock: time and randomness are inputs).
//!
//! | module | job |
//! |---|---|
//! | [`frame`] | the pre-parser: framing by `Content-Length`, unfolding, compact names, limits |
//! | [`msg`] | parsed messages (rsip underneath) and the builder for ours |
//! | [`hdr`] | typed readers for trunk headers rsip leaves untyped |
//! | [`auth`] | digest authentication, client and server |
//! | [`sdp`] | SDP and offer/answer |
//! | [`timer`] | RFC 4028 session-timer negotiation |
//! | [`dns`] | SRV/A queries and answers for locating trunks (RFC 3263) |
//! | [`ua`] | the user agent core: transactions, dialogs, calls, registration |
#![deny(missing_docs)]

pub mod auth;
pub mod cause;
pub mod dns;
pub mod frame;
pub mod hdr;
pub mod msg;
pub mod sdp;
pub mod timer;
pub mod ua;
