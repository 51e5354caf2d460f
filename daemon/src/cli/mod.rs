//! The `tipring` command line.
//!
//! Exit status: 0 on success, 1 when a command failed at run time (a file could not be
//! written), 2 for bad usage or bad input (clap's convention), with a one-line message on
//! stderr. Results go to stdout as JSON lines.

pub mod bench;
pub mod cid;
pub mod dsp;
pub mod engine_bench;

use clap::{Parser, Subcommand};

/// Tipring telephony appliance: command-line tools.
#[derive(Debug, Parser)]
#[command(name = "tipring", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the DSP core on WAV files (DTMF, call progress, caller ID, tone generation).
    #[command(subcommand)]
    Dsp(dsp::DspCommand),
    /// Benchmarks of the daemon's parts.
    #[command(subcommand)]
    Bench(BenchCommand),
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// The media engine on the simulated board, real clock, DTMF detection on every channel:
    /// channels per core at real time and tick lateness.
    Engine {
        /// Channels (simulated phones keying DTMF without pause).
        #[arg(long, default_value_t = 2000)]
        channels: u32,
        /// Measured seconds (after one second of warm-up).
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        /// Media threads to spread the channels over.
        #[arg(long, default_value_t = 1)]
        threads: usize,
    },
}

/// A failed command: the message for stderr and the exit status.
#[derive(Debug)]
pub struct Failure {
    /// One line for stderr.
    pub message: String,
    /// Process exit status.
    pub status: i32,
}

impl Failure {
    /// Bad input or usage: exit status 2.
    pub fn input(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            status: 2,
        }
    }

    /// A run-time failure (I/O): exit status 1.
    pub fn runtime(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            status: 1,
        }
    }
}

/// Parses the arguments, runs the command, and returns the process exit status.
pub fn run() -> i32 {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Dsp(cmd) => dsp::run(cmd),
        Command::Bench(BenchCommand::Engine {
            channels,
            seconds,
            threads,
        }) => engine_bench::run(channels, seconds, threads),
    };
    match result {
        Ok(()) => 0,
        Err(f) => {
            eprintln!("tipring: {}", f.message);
            f.status
        }
    }
}
