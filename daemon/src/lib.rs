//! # tipringd
//!
//! The Tipring appliance daemon and the `tipring` command-line tool. Today this crate holds
//! the `tipring dsp …` tools, which run the real-time DSP core (`tipring-dsp`) over WAV files
//! so that integrators can debug recorded calls with exactly the code the daemon runs.
#![deny(missing_docs)]

pub mod api;
pub mod app;
pub mod call;
pub mod cli;
pub mod config;
pub mod handler;
pub mod media;
pub mod notify;
pub mod wav;
