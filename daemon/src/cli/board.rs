//! `tipring board …`: board profiles (what the appliance's telephony hardware is), the
//! machine's inventory, and DAHDI's system.conf.
//!
//! These commands print plain text and TOML rather than JSON lines: their output is read
//! by an integrator, saved as a profile or as `/etc/dahdi/system.conf`. Exit status: 0 on
//! success; 1 when `check` finds differences (one line each on stdout) or a file cannot be
//! written; 2 for a bad profile (the message names file, line, column and key) or bad usage.

use super::Failure;
use clap::{Args, Subcommand};
use std::io::Write;
use std::path::PathBuf;
use tipring_board::{Hardware, Inventory, Profile, Roots, check};

/// `tipring board` subcommands.
#[derive(Debug, Subcommand)]
pub enum BoardCommand {
    /// The built-in profiles, one per line with what each is for.
    List,
    /// A profile, validated, as TOML with every default written out.
    Show {
        /// A built-in profile's name, or a path to a profile (.toml, or anything with '/').
        profile: String,
    },
    /// What this machine has (DAHDI spans, sound cards, serial ports), and a profile
    /// proposed for it. The output is TOML (the inventory as comments): save it, set the
    /// country and caller ID, and check it.
    Detect {
        /// Where to read the machine from.
        #[command(flatten)]
        roots: RootArgs,
    },
    /// Compare a profile with this machine: exit 0 when they match, 1 with one line per
    /// difference.
    Check {
        /// A built-in profile's name, or a path to a profile.
        profile: String,
        /// Where to read the machine from.
        #[command(flatten)]
        roots: RootArgs,
    },
    /// DAHDI's /etc/dahdi/system.conf for a profile (for dahdi_cfg).
    DahdiConfig {
        /// A built-in profile's name, or a path to a profile.
        profile: String,
        /// Write it to this file instead of stdout.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

/// Where to read the machine from (a test or a FUSE model can stand in for the real ones).
#[derive(Debug, Args)]
pub struct RootArgs {
    /// sysfs root [default: the profile's dahdi.sysfs, else /sys].
    #[arg(long, value_name = "DIR")]
    sys: Option<PathBuf>,
    /// procfs root [default: /proc].
    #[arg(long = "proc", value_name = "DIR")]
    proc_: Option<PathBuf>,
    /// Device directory [default: /dev]; a profile's DAHDI root under /dev moves with it.
    #[arg(long, value_name = "DIR")]
    dev: Option<PathBuf>,
}

impl RootArgs {
    fn roots(&self, profile: Option<&Profile>) -> Roots {
        let d = Roots::default();
        Roots {
            sys: self
                .sys
                .clone()
                .or_else(|| profile.map(|p| p.dahdi.sysfs.clone()))
                .unwrap_or(d.sys),
            proc_: self.proc_.clone().unwrap_or(d.proc_),
            dev: self.dev.clone().unwrap_or(d.dev),
        }
    }
}

/// Runs a `tipring board` command.
///
/// # Errors
/// As the module docs say.
pub fn run(cmd: BoardCommand) -> Result<(), Failure> {
    match cmd {
        BoardCommand::List => {
            let names = Profile::builtin_names();
            let width = names.iter().map(|n| n.len()).max().unwrap_or(0);
            let mut text = String::new();
            for name in names {
                let description = Profile::builtin(name)
                    .map(|p| p.description)
                    .unwrap_or_default();
                text.push_str(&format!("{name:width$}  {description}\n"));
            }
            print(&text)
        }
        BoardCommand::Show { profile } => {
            let p = resolve(&profile)?;
            print(&format!(
                "# Board profile {:?}, validated, every default written out.\n{}",
                p.name,
                p.to_toml()
            ))
        }
        BoardCommand::Detect { roots } => {
            let roots = roots.roots(None);
            let inv = Inventory::read(&roots);
            let proposed = inv.propose();
            let mut text = String::from("# What this machine has:\n");
            for line in inv.to_string().lines() {
                text.push_str(&format!("# {line}\n"));
            }
            text.push_str(
                "#\n# A board profile proposed for it: save it, set country and caller_id for the\n\
                 # site, and compare it with the machine with `tipring board check FILE`.\n",
            );
            let toml = proposed.to_toml();
            text.push_str(&toml);
            print(&text)?;
            // The proposal is built to validate; say so loudly if it does not.
            Profile::parse("proposal", &toml)
                .map(|_| ())
                .map_err(|e| Failure::runtime(format!("the proposal does not validate: {e}")))
        }
        BoardCommand::Check { profile, roots } => {
            let p = resolve(&profile)?;
            if p.hardware == Hardware::Sim {
                return print(&format!(
                    "board profile {:?} is the simulated board: nothing on this machine to check\n",
                    p.name
                ));
            }
            let roots = roots.roots(Some(&p));
            let inv = Inventory::read(&roots);
            let mismatches = check(&p, &inv, &roots);
            if mismatches.is_empty() {
                return print(&format!(
                    "board profile {:?} matches this machine\n",
                    p.name
                ));
            }
            let text: String = mismatches.iter().map(|m| format!("{m}\n")).collect();
            print(&text)?;
            Err(Failure::runtime(format!(
                "board profile {:?} does not match this machine ({} difference{})",
                p.name,
                mismatches.len(),
                if mismatches.len() == 1 { "" } else { "s" }
            )))
        }
        BoardCommand::DahdiConfig { profile, out } => {
            let p = resolve(&profile)?;
            let conf = p.system_conf().map_err(|e| Failure::input(e.to_string()))?;
            match out {
                Some(path) => std::fs::write(&path, conf)
                    .map_err(|e| Failure::runtime(format!("{}: {e}", path.display()))),
                None => print(&conf),
            }
        }
    }
}

fn resolve(name_or_path: &str) -> Result<Profile, Failure> {
    Profile::resolve(name_or_path).map_err(|e| Failure::input(e.to_string()))
}

fn print(text: &str) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        // The reader went away (`| head`): stop quietly, as Unix tools do.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => Err(Failure::runtime(format!("stdout: {e}"))),
    }
}
