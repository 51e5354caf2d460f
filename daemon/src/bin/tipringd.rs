//! `tipringd`: the Tipring telephony appliance daemon.

use clap::Parser;
use std::path::PathBuf;

/// The Tipring daemon: drives the board's lines, runs the call handlers, serves the API.
#[derive(Debug, Parser)]
#[command(name = "tipringd", version, about)]
struct Args {
    /// Config file (default /etc/tipring/tipring.toml; without it, the sim board and the
    /// example handlers).
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Check the config and exit (0: valid).
    #[arg(long)]
    check: bool,
    /// Run as an isolated handler's host (tipringd starts these itself).
    #[arg(long, value_name = "SO", hide = true)]
    handler_host: Option<PathBuf>,
}

fn main() {
    let args = Args::parse();
    tipringd::app::init_logging();
    if let Some(so) = args.handler_host {
        std::process::exit(tipringd::handler::process::host_main(&so));
    }
    let cfg = match tipringd::app::load_config(args.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("tipringd: config: {e}");
            std::process::exit(2);
        }
    };
    if args.check {
        println!("config ok");
        return;
    }
    std::process::exit(tipringd::app::run(cfg));
}
