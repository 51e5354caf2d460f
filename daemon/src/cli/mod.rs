//! The `tipring` command line.
//!
//! Exit status: 0 on success, 1 when a command failed at run time (a file could not be
//! written), 2 for bad usage or bad input (clap's convention), with a one-line message on
//! stderr. Results go to stdout as JSON lines.

pub mod bench;
pub mod board;
pub mod cid;
pub mod client;
pub mod dsp;
pub mod engine_bench;
pub mod handler_bench;
pub mod sip_bench;

use clap::{Parser, Subcommand};

/// Tipring telephony appliance: command-line tools.
#[derive(Debug, Parser)]
#[command(name = "tipring", version, about, propagate_version = true)]
pub struct Cli {
    /// The daemon's API (commands that talk to tipringd).
    #[arg(
        long,
        global = true,
        env = "TIPRING_API",
        default_value = "http://127.0.0.1:8080"
    )]
    api: String,
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
    /// Board profiles: list, show, detect the machine's hardware, check a profile against
    /// it, and write DAHDI's system.conf.
    #[command(subcommand)]
    Board(board::BoardCommand),
    /// The daemon's health: version, channels, active calls, media ticks.
    Status,
    /// Every channel and its state.
    Channels,
    /// Calls (live and recently ended).
    Calls,
    /// One call: state, handler, timestamps, events, digits, hang-up cause.
    Call {
        /// Call id.
        id: u64,
    },
    /// Place a call.
    Originate {
        /// Channel to call on.
        #[arg(long, conflicts_with = "group", required_unless_present = "group")]
        channel: Option<u32>,
        /// Or any idle channel of this group.
        #[arg(long)]
        group: Option<String>,
        /// Number to dial (FXO lines).
        #[arg(long)]
        to: Option<String>,
        /// Handler to run once answered.
        #[arg(long)]
        handler: Option<String>,
        /// The handler's params, JSON.
        #[arg(long)]
        params: Option<String>,
    },
    /// Hang up a call.
    Hangup {
        /// Call id.
        id: u64,
    },
    /// Handlers: loaded ones (isolation, host state, why one is disabled), refused ones
    /// with the reason, old versions finishing their calls; reload or re-enable them.
    Handlers {
        /// What to do (default: list).
        #[command(subcommand)]
        action: Option<HandlersCommand>,
    },
    /// Capture a channel's audio to a stereo WAV (left: received, right: sent), at run
    /// time, for troubleshooting.
    Capture {
        /// The channel.
        channel: u32,
        /// `on` or `off`.
        #[arg(value_parser = ["on", "off"])]
        state: String,
    },
    /// Make a new API bearer token: prints it (give it to the client, as TIPRING_TOKEN) and
    /// its hash (put that in [api] tokens; tipringd never stores the token itself).
    ApiToken,
    /// Stored call records, newest first (JSON, or CSV to export).
    Records {
        /// CSV (RFC 4180) instead of JSON.
        #[arg(long)]
        csv: bool,
        /// Calls that ended at or after this Unix time, ms.
        #[arg(long)]
        from_ms: Option<u64>,
        /// Calls that ended before this Unix time, ms.
        #[arg(long)]
        to_ms: Option<u64>,
        /// On this channel.
        #[arg(long)]
        channel: Option<u32>,
        /// Taken by this handler.
        #[arg(long)]
        handler: Option<String>,
        /// With this Q.850 cause.
        #[arg(long)]
        cause: Option<u32>,
        /// At most this many (1-1000).
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// After skipping this many.
        #[arg(long, default_value_t = 0)]
        offset: u32,
    },
    /// Read the config file again (as SIGHUP does): a broken file is refused with its place
    /// and reason, and the running config stays.
    Reload,
    /// Play the sim board's far ends (phones, the exchange).
    #[command(subcommand)]
    Sim(client::SimCommand),
}

#[derive(Debug, Subcommand)]
enum HandlersCommand {
    /// Loaded and refused handlers (the default).
    List,
    /// Scan the handlers directory again: new versions take new calls, calls up finish on
    /// the version they started with.
    Reload,
    /// Let a handler disabled for crashing take calls again.
    Enable {
        /// The handler's name.
        name: String,
    },
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
    /// Handler isolation's cost: the event round trip to an isolated handler host (p50,
    /// p99), and a whole IVR call isolated against in process (wall and CPU time).
    Handlers {
        /// The handler (default: the example C handler, ivr-c).
        #[arg(long, value_name = "SO")]
        file: Option<std::path::PathBuf>,
        /// Round trips to time.
        #[arg(long, default_value_t = 20_000)]
        events: u32,
        /// Whole calls to run each way.
        #[arg(long, default_value_t = 5_000)]
        calls: u32,
    },
    /// SIP channels' media on one thread, real sockets on loopback: G.711 RTP both ways with
    /// in-band DTMF on every call; calls per core at real time and tick lateness.
    SipMedia {
        /// Concurrent calls.
        #[arg(long, default_value_t = 2000)]
        calls: u32,
        /// Measured seconds (after two seconds of warm-up).
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
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
        Command::Board(cmd) => board::run(cmd),
        Command::Bench(BenchCommand::Engine {
            channels,
            seconds,
            threads,
        }) => engine_bench::run(channels, seconds, threads),
        Command::Bench(BenchCommand::SipMedia { calls, seconds }) => sip_bench::run(calls, seconds),
        Command::Bench(BenchCommand::Handlers {
            file,
            events,
            calls,
        }) => handler_bench::run(file.as_deref(), events, calls),
        Command::Status => client::get(&cli.api, "/v1/health").and_then(|v| client::print(&v)),
        Command::Channels => client::get(&cli.api, "/v1/channels").and_then(|v| client::print(&v)),
        Command::Calls => client::get(&cli.api, "/v1/calls").and_then(|v| client::print(&v)),
        Command::Call { id } => {
            client::get(&cli.api, &format!("/v1/calls/{id}")).and_then(|v| client::print(&v))
        }
        Command::Originate {
            channel,
            group,
            to,
            handler,
            params,
        } => (|| {
            let params: Option<serde_json::Value> = match params {
                Some(p) => Some(
                    serde_json::from_str(&p)
                        .map_err(|e| Failure::input(format!("--params: not JSON: {e}")))?,
                ),
                None => None,
            };
            let body = serde_json::json!({
                "channel": channel, "group": group, "to": to, "handler": handler, "params": params,
            });
            let body: serde_json::Map<String, serde_json::Value> = body
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            client::post(&cli.api, "/v1/calls", &serde_json::Value::Object(body))
                .and_then(|v| client::print(&v))
        })(),
        Command::Hangup { id } => {
            client::delete(&cli.api, &format!("/v1/calls/{id}")).and_then(|v| client::print(&v))
        }
        Command::Handlers {
            action: Some(HandlersCommand::Reload),
        } => client::post(&cli.api, "/v1/handlers/reload", &serde_json::json!({}))
            .and_then(|v| client::print(&v)),
        Command::Handlers {
            action: Some(HandlersCommand::Enable { name }),
        } => client::post(
            &cli.api,
            &format!("/v1/handlers/{name}/enable"),
            &serde_json::json!({}),
        )
        .and_then(|v| client::print(&v)),
        Command::ApiToken => tipring_auth::new_token()
            .map_err(|e| Failure::runtime(format!("no random numbers: {e}")))
            .and_then(|t| {
                client::print(&serde_json::json!({
                    "token": t,
                    "hash": tipring_auth::hash_token(&t),
                }))
            }),
        Command::Capture { channel, state } => client::post(
            &cli.api,
            &format!("/v1/channels/{channel}/capture"),
            &serde_json::json!({"on": state == "on"}),
        )
        .and_then(|v| client::print(&v)),
        Command::Records {
            csv,
            from_ms,
            to_ms,
            channel,
            handler,
            cause,
            limit,
            offset,
        } => {
            let mut q = format!("limit={limit}&offset={offset}");
            for (k, v) in [
                ("from_ms", from_ms.map(|v| v.to_string())),
                ("to_ms", to_ms.map(|v| v.to_string())),
                ("channel", channel.map(|v| v.to_string())),
                ("cause", cause.map(|v| v.to_string())),
                ("handler", handler),
            ] {
                if let Some(v) = v {
                    let v: String = v
                        .bytes()
                        .map(|b| {
                            if b.is_ascii_alphanumeric() || b"._-".contains(&b) {
                                char::from(b).to_string()
                            } else {
                                format!("%{b:02X}")
                            }
                        })
                        .collect();
                    q.push_str(&format!("&{k}={v}"));
                }
            }
            if csv {
                client::get_text(&cli.api, &format!("/v1/records.csv?{q}")).and_then(|t| {
                    use std::io::Write as _;
                    match std::io::stdout().lock().write_all(t.as_bytes()) {
                        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                            Err(Failure::runtime(format!("stdout: {e}")))
                        }
                        _ => Ok(()),
                    }
                })
            } else {
                client::get(&cli.api, &format!("/v1/records?{q}")).and_then(|v| client::print(&v))
            }
        }
        Command::Reload => client::post(&cli.api, "/v1/config/reload", &serde_json::json!({}))
            .and_then(|v| client::print(&v)),
        Command::Handlers {
            action: None | Some(HandlersCommand::List),
        } => client::get(&cli.api, "/v1/handlers").and_then(|v| client::print(&v)),
        Command::Sim(cmd) => client::sim(&cli.api, cmd).and_then(|v| client::print(&v)),
    };
    match result {
        Ok(()) => 0,
        Err(f) => {
            eprintln!("tipring: {}", f.message);
            f.status
        }
    }
}
