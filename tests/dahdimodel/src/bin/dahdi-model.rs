//! Mounts a DAHDI driver model and plays the far ends from commands on stdin, for trying
//! the daemon by hand.
//!
//! ```text
//! dahdi-model ROOT SPAN...
//!   SPAN: fxs,fxs,fxo,fxo (analog ports; fxs-ls fxs-gs fxo-ls fxo-gs too),
//!         t1:pri t1:clear t1:em e1:pri e1:clear e1:cas
//! commands (one per line; N a channel, S a span):
//!   offhook N | onhook N | flash N          the phone on an FXS port
//!   ring N | ringend N | polarity N | disconnect N | battery N   the exchange on an FXO port
//!   dtmf N DIGITS                           the far end sends DTMF
//!   alarm S red|yellow|blue|clear|BITS      span alarms
//!   status N | log N | heard N              what the daemon did
//!   quit
//! ```

use std::io::BufRead;
use std::path::PathBuf;
use tipring_dahdi_model::{DigitalSig, Model, Port, SpanSpec, Spec};
use tipring_dsp::dtmf::{DtmfGenConfig, DtmfGenerator};
use tipring_hal::dahdi::sys;

fn span(arg: &str) -> Result<SpanSpec, String> {
    let digital = |sig: &str| match sig {
        "pri" => Ok(DigitalSig::Pri),
        "clear" => Ok(DigitalSig::Clear),
        "em" | "cas" => Ok(DigitalSig::Em),
        _ => Err(format!("unknown signalling {sig:?} (pri, clear, em, cas)")),
    };
    if let Some(sig) = arg.strip_prefix("t1:") {
        return Ok(SpanSpec::t1(digital(sig)?));
    }
    if let Some(sig) = arg.strip_prefix("e1:") {
        return Ok(SpanSpec::e1(digital(sig)?));
    }
    let ports = arg
        .split(',')
        .map(|p| match p {
            "fxs" => Ok(Port::Fxs),
            "fxs-ls" => Ok(Port::FxsLoopStart),
            "fxs-gs" => Ok(Port::FxsGroundStart),
            "fxo" => Ok(Port::Fxo),
            "fxo-ls" => Ok(Port::FxoLoopStart),
            "fxo-gs" => Ok(Port::FxoGroundStart),
            _ => Err(format!("unknown port {p:?}")),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(SpanSpec::analog(&ports))
}

fn dtmf(digits: &str) -> Result<Vec<i16>, String> {
    let mut g = DtmfGenerator::new(DtmfGenConfig::default()).map_err(|e| e.to_string())?;
    g.queue_digits(digits).map_err(|e| e.to_string())?;
    let mut out = vec![0i16; g.remaining_samples() as usize];
    let n = g.generate(&mut out);
    out.truncate(n);
    Ok(out)
}

fn command(model: &Model, line: &str) -> Result<String, String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let Some((&cmd, args)) = words.split_first() else {
        return Ok(String::new());
    };
    let num = |i: usize| -> Result<u32, String> {
        args.get(i)
            .ok_or_else(|| format!("{cmd}: missing argument {}", i + 1))?
            .parse::<u32>()
            .map_err(|e| format!("{cmd}: {e}"))
    };
    if cmd == "alarm" {
        let bits = match args.get(1).copied().unwrap_or("") {
            "red" => sys::ALARM_RED,
            "yellow" => sys::ALARM_YELLOW,
            "blue" => sys::ALARM_BLUE,
            "clear" => 0,
            b => b.parse().map_err(|_| format!("alarm: bad bits {b:?}"))?,
        };
        model.span_alarm(num(0)?, bits).map_err(|e| e.to_string())?;
        return Ok("ok".into());
    }
    let ch = model.channel(num(0)?).map_err(|e| e.to_string())?;
    let done = |r: Result<(), tipring_dahdi_model::ModelError>| {
        r.map(|()| "ok".to_string()).map_err(|e| e.to_string())
    };
    match cmd {
        "offhook" => done(ch.phone_off_hook()),
        "onhook" => done(ch.phone_on_hook()),
        "flash" => done(ch.phone_flash()),
        "ring" => done(ch.ring_begin()),
        "ringend" => done(ch.ring_end()),
        "polarity" => done(ch.polarity()),
        "disconnect" => done(ch.battery_drop()),
        "battery" => done(ch.battery_restore()),
        "dtmf" => {
            ch.speak(&dtmf(args.get(1).copied().unwrap_or(""))?);
            Ok("ok".into())
        }
        "status" => Ok(format!(
            "open={} off_hook={} ringing={} seized={} phone_off_hook={} dialled={:?} \
             blocksize={} linear={} law={:?} overruns={} underruns={} events={:?}",
            ch.is_open(),
            ch.off_hook(),
            ch.ringing(),
            ch.line_seized(),
            ch.phone_is_off_hook(),
            ch.dialled(),
            ch.blocksize(),
            ch.linear(),
            ch.law(),
            ch.overruns(),
            ch.underruns(),
            ch.pending_events(),
        )),
        "log" => Ok(ch.ioctl_log().join(" ")),
        "heard" => {
            let h = ch.take_heard();
            let peak = h.iter().map(|s| s.unsigned_abs()).max().unwrap_or(0);
            Ok(format!("{} samples, peak {peak}", h.len()))
        }
        _ => Err(format!("unknown command {cmd:?}")),
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(root) = args.next().map(PathBuf::from) else {
        eprintln!("usage: dahdi-model ROOT SPAN... (see the source's header)");
        std::process::exit(2);
    };
    let mut spec = Spec::new();
    for a in args {
        match span(&a) {
            Ok(s) => spec = spec.span(s),
            Err(e) => {
                eprintln!("dahdi-model: {e}");
                std::process::exit(2);
            }
        }
    }
    let model = match Model::mount(&root, spec) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("dahdi-model: {e}");
            std::process::exit(1);
        }
    };
    println!(
        "mounted at {} with {} channels",
        model.root().display(),
        model.channels()
    );
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        if line.trim() == "quit" {
            break;
        }
        match command(&model, &line) {
            Ok(s) if s.is_empty() => {}
            Ok(s) => println!("{s}"),
            Err(e) => println!("error: {e}"),
        }
    }
}
