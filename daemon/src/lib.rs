//! # tipringd
//!
//! The Tipring appliance daemon and the `tipring` command-line tool.
//!
//! * [`media`]: the real-time media plane, one OS thread per board shard.
//! * [`call`]: call control, the sans-IO switch that runs one handler instance per call.
//! * [`handler`]: loading handler shared objects and the host side of their C ABI.
//! * [`sip`]: SIP trunks, the tokio adapter around the `tipring-sip` user agent core.
//! * [`config`], [`app`], [`api`], [`notify`]: the daemon around them (TOML config, control
//!   loop, HTTP API, systemd notifications).
//! * [`cli`]: the `tipring` command line: the `tipring dsp …` tools over WAV files, the
//!   benchmarks, and commands that talk to a running daemon.
#![deny(missing_docs)]

pub mod api;
pub mod app;
pub mod call;
pub mod cli;
pub mod config;
pub mod handler;
pub mod media;
pub mod metrics;
pub mod notify;
pub mod records;
pub mod reload;
pub mod sip;
pub mod wav;
