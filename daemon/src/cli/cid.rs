//! `tipring dsp cid …`: caller-ID decode and encode over WAV files.

use super::Failure;
use super::dsp::{FRAME, at_ms, detect_dtmf, emit, read_wav, write_wav};
use clap::{Args, Subcommand, ValueEnum};
use serde_json::{Map, Value, json};
use std::path::{Path, PathBuf};
use tipring_dsp::cid::dtmf_clip::{self, DtmfClipStyle};
use tipring_dsp::cid::{
    Absence, CallerId, CidEvent, CidReceiver, CidRxConfig, Format, FskConfig, FskModulator,
    FskStandard, Message,
};
use tipring_dsp::dtmf::{DtmfGenConfig, DtmfGenerator};

/// Caller-ID signalling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Standard {
    /// Bell 202 FSK (Telcordia GR-30-CORE, North America).
    Bell202,
    /// V.23 FSK (ETSI EN 300 659, most of Europe).
    V23,
    /// DTMF CLIP (`A<number>C` and variants: Nordic countries, Netherlands, Belgium, Brazil, India…).
    Dtmf,
}

/// FSK message format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MsgFormat {
    /// Single data message (type 0x04): date/time and number only.
    Sdmf,
    /// Multiple data message (type 0x80; ETSI CLIP call set-up with V.23): also name.
    Mdmf,
}

/// Withheld-number reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Withheld {
    /// Out of area / unavailable.
    #[value(name = "O")]
    O,
    /// Private / restricted.
    #[value(name = "P")]
    P,
}

/// `tipring dsp cid` subcommands.
#[derive(Debug, Subcommand)]
pub enum CidCommand {
    /// Decode caller-ID messages: one JSON line each,
    /// {"at_ms":…,"number":"…","name":"…","datetime":"MMDDHHMM"} (keys present when carried;
    /// "absent":"O"|"P" when the number is withheld).
    Decode {
        /// Signalling to look for.
        #[arg(long, value_enum)]
        standard: Standard,
        /// Input WAV (8 kHz mono, 16-bit PCM or 8-bit mu-law/A-law).
        file: PathBuf,
    },
    /// Write an on-hook caller-ID burst (100 ms silence, the burst, 200 ms silence).
    Encode(Encode),
}

/// `tipring dsp cid encode`.
#[derive(Debug, Args)]
pub struct Encode {
    /// Signalling to send.
    #[arg(long, value_enum)]
    standard: Standard,
    /// FSK message format (ignored for DTMF).
    #[arg(long, value_enum, default_value = "mdmf")]
    format: MsgFormat,
    /// Calling number.
    #[arg(long)]
    number: Option<String>,
    /// Calling name (MDMF only).
    #[arg(long)]
    name: Option<String>,
    /// Date and time, MMDDHHMM (FSK only).
    #[arg(long)]
    datetime: Option<String>,
    /// Send "number withheld" instead of a number: O (unavailable) or P (private).
    #[arg(long, value_enum, conflicts_with = "number")]
    absent: Option<Withheld>,
    /// Level, dBm0 (FSK; DTMF uses the generator's −10/−8 dBm0).
    #[arg(long, default_value_t = -13.0, allow_negative_numbers = true)]
    level_dbm0: f32,
    /// Output WAV (8 kHz mono 16-bit PCM).
    #[arg(long)]
    out: PathBuf,
}

/// Runs a `tipring dsp cid` command.
///
/// # Errors
/// A [`Failure`] with the message and exit status.
pub fn run(cmd: CidCommand) -> Result<(), Failure> {
    match cmd {
        CidCommand::Decode { standard, file } => decode(standard, &file),
        CidCommand::Encode(e) => encode(&e),
    }
}

fn fsk(standard: Standard) -> Option<FskStandard> {
    match standard {
        Standard::Bell202 => Some(FskStandard::Bell202),
        Standard::V23 => Some(FskStandard::V23),
        Standard::Dtmf => None,
    }
}

fn absence_str(a: Absence) -> &'static str {
    match a {
        Absence::OutOfArea => "O",
        Absence::Private => "P",
    }
}

/// The JSON line for a caller-ID message.
fn caller_id_json(at: u64, id: &CallerId) -> Value {
    let mut m = Map::new();
    m.insert("at_ms".into(), json!(at_ms(at)));
    if let Some(n) = &id.number {
        m.insert("number".into(), json!(n.as_str()));
    }
    if let Some(n) = &id.name {
        m.insert("name".into(), json!(n.as_str()));
    }
    if let Some(d) = id.datetime_str() {
        m.insert("datetime".into(), json!(d));
    }
    if let Some(a) = id.number_absent {
        m.insert("absent".into(), json!(absence_str(a)));
    }
    Value::Object(m)
}

fn decode(standard: Standard, file: &Path) -> Result<(), Failure> {
    let x = read_wav(file)?;
    match fsk(standard) {
        Some(std) => decode_fsk(std, &x, file),
        None => decode_dtmf(&x, file),
    }
}

fn decode_fsk(standard: FskStandard, x: &[i16], file: &Path) -> Result<(), Failure> {
    let mut rx = CidReceiver::new(CidRxConfig::new(standard));
    for frame in x.chunks(FRAME) {
        let mut done = 0;
        while done < frame.len() {
            done += rx.process(&frame[done..]);
            while let Some(ev) = rx.poll_event() {
                match ev {
                    CidEvent::Message {
                        at,
                        message: Message::CallerId(id),
                        ..
                    } => emit(caller_id_json(at, &id))?,
                    CidEvent::Message {
                        at,
                        message: Message::Mwi { active, count },
                        ..
                    } => {
                        let mut v = json!({ "at_ms": at_ms(at), "mwi": active });
                        if let Some(c) = count {
                            v["messages"] = json!(c);
                        }
                        emit(v)?
                    }
                    CidEvent::Error { at, error } => eprintln!(
                        "tipring: {}: caller ID at {} ms discarded: {error}",
                        file.display(),
                        at_ms(at)
                    ),
                }
            }
        }
    }
    Ok(())
}

/// Digits further apart than this start a new DTMF CLIP string.
const DTMF_CLIP_GAP: u64 = 8000;

fn decode_dtmf(x: &[i16], file: &Path) -> Result<(), Failure> {
    let mut seq = String::new();
    let mut last_at = 0u64;
    let try_parse = |seq: &mut String, at: u64| -> Result<(), Failure> {
        if seq.is_empty() {
            return Ok(());
        }
        match dtmf_clip::parse(seq) {
            Ok(id) => emit(caller_id_json(at, &id))?,
            Err(e) => eprintln!(
                "tipring: {}: DTMF digits {seq:?} ending at {} ms are not caller ID: {e}",
                file.display(),
                at_ms(at)
            ),
        }
        seq.clear();
        Ok(())
    };
    for (digit, at) in detect_dtmf(x) {
        if !seq.is_empty() && at - last_at > DTMF_CLIP_GAP {
            try_parse(&mut seq, last_at)?;
        }
        seq.push(digit);
        last_at = at;
        if digit == 'C' || digit == '#' {
            try_parse(&mut seq, at)?;
        }
    }
    try_parse(&mut seq, last_at)
}

fn caller_id_from(e: &Encode) -> Result<CallerId, Failure> {
    let mut id = CallerId::default();
    if let Some(n) = &e.number {
        if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Failure::input(format!("--number {n:?} must be digits 0-9")));
        }
        let s = heapless::String::try_from(n.as_str())
            .map_err(|_| Failure::input(format!("--number {n:?} is too long")))?;
        id.number = Some(s);
    }
    if let Some(n) = &e.name {
        let s = heapless::String::try_from(n.as_str())
            .map_err(|_| Failure::input(format!("--name {n:?} is too long")))?;
        id.name = Some(s);
    }
    if let Some(d) = &e.datetime {
        let b = d.as_bytes();
        let valid = b.len() == 8 && b.iter().all(u8::is_ascii_digit) && {
            let n = |i: usize| u32::from(b[i] - b'0') * 10 + u32::from(b[i + 1] - b'0');
            (1..=12).contains(&n(0)) && (1..=31).contains(&n(2)) && n(4) < 24 && n(6) < 60
        };
        if !valid {
            return Err(Failure::input(format!(
                "--datetime {d:?} is not MMDDHHMM (month 01-12, day 01-31, hour 00-23, minute 00-59)"
            )));
        }
        let mut dt = [0u8; 8];
        dt.copy_from_slice(b);
        id.datetime = Some(dt);
    }
    id.number_absent = e.absent.map(|a| match a {
        Withheld::O => Absence::OutOfArea,
        Withheld::P => Absence::Private,
    });
    if id.number.is_none() && id.number_absent.is_none() {
        return Err(Failure::input("give --number N or --absent O|P"));
    }
    Ok(id)
}

fn encode(e: &Encode) -> Result<(), Failure> {
    let id = caller_id_from(e)?;
    let mut x = vec![0i16; 800];
    match fsk(e.standard) {
        Some(std) => {
            let format = match (e.format, std) {
                (MsgFormat::Sdmf, _) => Format::Sdmf,
                (MsgFormat::Mdmf, FskStandard::Bell202) => Format::Mdmf,
                (MsgFormat::Mdmf, FskStandard::V23) => Format::Etsi,
            };
            if format == Format::Sdmf && id.name.is_some() {
                return Err(Failure::input("SDMF carries no name: use --format mdmf"));
            }
            if !(-40.0..=-3.0).contains(&e.level_dbm0) {
                return Err(Failure::input(format!(
                    "--level-dbm0 {} is outside -40 ... -3",
                    e.level_dbm0
                )));
            }
            let mut cfg = FskConfig::on_hook(std);
            cfg.level_dbm0 = e.level_dbm0;
            let mut m = FskModulator::new(cfg);
            m.load_message(&Message::CallerId(id), format)
                .map_err(|err| Failure::input(format!("cannot encode caller ID: {err}")))?;
            let mut buf = [0i16; FRAME];
            loop {
                let n = m.generate(&mut buf);
                x.extend_from_slice(&buf[..n]);
                if n == 0 {
                    break;
                }
            }
        }
        None => {
            if id.name.is_some() || id.datetime.is_some() {
                return Err(Failure::input(
                    "DTMF caller ID carries only the number: drop --name and --datetime",
                ));
            }
            let digits = dtmf_clip::format(&id, DtmfClipStyle::AC)
                .map_err(|err| Failure::input(format!("cannot encode caller ID: {err}")))?;
            let cfg = DtmfGenConfig {
                on_ms: 70,
                off_ms: 70,
                ..DtmfGenConfig::default()
            };
            let mut g = DtmfGenerator::new(cfg).map_err(|err| Failure::input(err.to_string()))?;
            g.queue_digits(&digits)
                .map_err(|err| Failure::input(err.to_string()))?;
            let mut d = vec![0i16; g.remaining_samples() as usize];
            g.generate(&mut d);
            x.extend_from_slice(&d);
        }
    }
    x.extend_from_slice(&[0i16; 1600]);
    write_wav(&e.out, &x)
}
