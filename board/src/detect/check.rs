//! A profile checked against the machine.

use super::*;
use crate::channels::format_list;
use crate::profile::*;
use std::fmt;

/// DAHDI `lineconfig`/`linecompat` bits (`dahdi/user.h` `DAHDI_CONFIG_*`).
mod line {
    pub const D4: u32 = 1 << 4;
    pub const ESF: u32 = 1 << 5;
    pub const AMI: u32 = 1 << 6;
    pub const B8ZS: u32 = 1 << 7;
    pub const CCS: u32 = 1 << 8;
    pub const HDB3: u32 = 1 << 9;
    pub const CRC4: u32 = 1 << 10;
}

/// One way the machine differs from the profile. Its [`Display`](fmt::Display) says so in
/// the operator's words, in one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mismatch {
    /// The profile's DAHDI device directory does not exist.
    NoDahdiRoot {
        /// The directory looked for.
        path: PathBuf,
    },
    /// sysfs has no DAHDI span bus: the dahdi module is not loaded (or no model serves it).
    NoDahdiSysfs {
        /// The directory looked for.
        path: PathBuf,
    },
    /// A DAHDI device node is missing.
    MissingNode {
        /// The channel it is for, if it is a channel's node.
        channel: Option<u32>,
        /// The node looked for.
        path: PathBuf,
    },
    /// None of a span's channel nodes exist.
    MissingSpanNodes {
        /// The span.
        span: u32,
        /// The directory they should be in.
        dir: PathBuf,
        /// The profile's channels on that span.
        channels: Vec<u32>,
    },
    /// The machine has no span with this number.
    MissingSpan {
        /// The span.
        span: u32,
        /// What the profile says it is.
        profile: SpanKind,
        /// The machine's span numbers.
        machine: Vec<u32>,
    },
    /// The span is of another kind.
    SpanKind {
        /// The span.
        span: u32,
        /// What the profile says.
        profile: SpanKind,
        /// The machine's `spantype` (or `unknown`).
        machine: String,
        /// The machine's span name and description.
        label: String,
    },
    /// The span's channels are numbered differently.
    SpanChannels {
        /// The span.
        span: u32,
        /// The profile's channels on it.
        profile: (u32, u32),
        /// The machine's `basechan` and `channels`.
        machine: (Option<u32>, Option<u32>),
    },
    /// The span's hardware cannot run the profile's framing, coding or CRC-4.
    LineUnsupported {
        /// The span.
        span: u32,
        /// What it cannot do, e.g. `b8zs`.
        what: String,
        /// The span's `linecompat`.
        linecompat: u32,
    },
    /// DAHDI has configured the span differently (dahdi_cfg ran with another system.conf).
    LineConfig {
        /// The span.
        span: u32,
        /// The profile's, e.g. `esf/b8zs`.
        profile: String,
        /// DAHDI's, decoded from `lineconfig`.
        machine: String,
        /// The raw `lineconfig`.
        lineconfig: u32,
    },
    /// DAHDI has channels configured with other signalling than the profile's system.conf
    /// gives them (dahdi_cfg ran with another file).
    Signalling {
        /// The group.
        group: String,
        /// The channels concerned.
        channels: Vec<u32>,
        /// DAHDI's name for what they have (sysfs `sig`, e.g. `FXSKS`).
        machine: String,
        /// The profile's system.conf keyword for them (e.g. `fxoks`).
        profile: &'static str,
    },
    /// Analog channels are ports of another kind than the group says.
    PortKind {
        /// The group.
        group: String,
        /// The channels concerned.
        channels: Vec<u32>,
        /// What the card says they are.
        machine: PortKind,
        /// Where the card says so (`sigcap`, `spantype FXS`).
        source: &'static str,
        /// What the profile says.
        profile: PortKind,
    },
}

fn upper(k: PortKind) -> &'static str {
    match k {
        PortKind::Fxs => "FXS",
        PortKind::Fxo => "FXO",
        PortKind::T1 => "T1",
        PortKind::E1 => "E1",
    }
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mismatch::NoDahdiRoot { path } => write!(
                f,
                "the profile's DAHDI root {} does not exist",
                path.display()
            ),
            Mismatch::NoDahdiSysfs { path } => write!(
                f,
                "no DAHDI spans: {} does not exist (is the dahdi module loaded?)",
                path.display()
            ),
            Mismatch::MissingNode {
                channel: Some(c),
                path,
            } => write!(f, "channel {c}: {} missing", path.display()),
            Mismatch::MissingNode {
                channel: None,
                path,
            } => write!(f, "{} missing", path.display()),
            Mismatch::MissingSpanNodes {
                span,
                dir,
                channels,
            } => write!(
                f,
                "span {span}: no channel nodes in {} (channels {})",
                dir.display(),
                format_list(channels)
            ),
            Mismatch::MissingSpan {
                span,
                profile,
                machine,
            } => {
                write!(
                    f,
                    "span {span}: the profile says {}, the machine has no span {span}",
                    profile.label()
                )?;
                if machine.is_empty() {
                    write!(f, " (it has no spans)")
                } else {
                    let list: Vec<String> = machine.iter().map(u32::to_string).collect();
                    write!(f, " (its spans: {})", list.join(", "))
                }
            }
            Mismatch::SpanKind {
                span,
                profile,
                machine,
                label,
            } => write!(
                f,
                "span {span}: the profile says {}, the machine's span {span} is {machine} ({label})",
                profile.label()
            ),
            Mismatch::SpanChannels {
                span,
                profile,
                machine,
            } => {
                let m = match machine {
                    (Some(b), Some(n)) if *n > 0 => {
                        format!("channels {b}-{}", u64::from(*b) + u64::from(*n) - 1)
                    }
                    (Some(b), Some(_)) => format!("no channels (basechan {b})"),
                    _ => "no basechan/channels in sysfs".into(),
                };
                write!(
                    f,
                    "span {span}: the profile puts channels {}-{} on it, the machine's span {span} has {m}",
                    profile.0, profile.1
                )
            }
            Mismatch::LineUnsupported {
                span,
                what,
                linecompat,
            } => write!(
                f,
                "span {span}: the profile asks for {what}, which the span's hardware does not offer (linecompat {linecompat:#x})"
            ),
            Mismatch::LineConfig {
                span,
                profile,
                machine,
                lineconfig,
            } => write!(
                f,
                "span {span}: the profile says {profile}, DAHDI has the span configured {machine} (lineconfig {lineconfig:#x}); load the profile's system.conf with dahdi_cfg"
            ),
            Mismatch::Signalling {
                group,
                channels,
                machine,
                profile,
            } => {
                let (what, are) = if channels.len() == 1 {
                    (format!("channel {}", format_list(channels)), "is")
                } else {
                    (format!("channels {}", format_list(channels)), "are")
                };
                write!(
                    f,
                    "group {group}: {what} {are} configured {machine} in DAHDI, the profile's system.conf makes {} {profile}; load it with dahdi_cfg",
                    if channels.len() == 1 { "it" } else { "them" }
                )
            }
            Mismatch::PortKind {
                group,
                channels,
                machine,
                source,
                profile,
            } => {
                let (what, are) = if channels.len() == 1 {
                    (format!("channel {}", format_list(channels)), "is an")
                } else {
                    (format!("channels {}", format_list(channels)), "are")
                };
                let ports = if channels.len() == 1 { "port" } else { "ports" };
                write!(
                    f,
                    "group {group}: {what} {are} {} {ports} on the card ({source}), the profile says {}",
                    upper(*machine),
                    profile.as_str()
                )
            }
        }
    }
}

/// Compares `profile` with the machine `inv` was read from: the DAHDI root and its nodes
/// (under [`Roots::dahdi_root`]), the spans' kinds, channel numbering and line
/// configuration, and the analog groups' port kinds. An empty list means they match; a
/// `hardware = "sim"` profile always does.
pub fn check(profile: &Profile, inv: &Inventory, roots: &Roots) -> Vec<Mismatch> {
    let mut out = Vec::new();
    if profile.hardware != Hardware::Dahdi {
        return out;
    }
    nodes(profile, roots, &mut out);
    if !inv.dahdi_present {
        out.push(Mismatch::NoDahdiSysfs {
            path: inv.roots.sys.join("bus/dahdi_spans"),
        });
        return out;
    }
    for s in &profile.spans {
        span(s, inv, &mut out);
    }
    for g in profile.groups.iter().filter(|g| g.kind.is_analog()) {
        ports(g, inv, &mut out);
    }
    for g in &profile.groups {
        configured(profile, g, inv, &mut out);
    }
    out
}

/// DAHDI's name (sysfs `sig`) for what a system.conf keyword configures.
fn sig_name(keyword: &str) -> &'static str {
    match keyword {
        "fxoks" => "FXOKS",
        "fxols" => "FXOLS",
        "fxogs" => "FXOGS",
        "fxsks" => "FXSKS",
        "fxsls" => "FXSLS",
        "fxsgs" => "FXSGS",
        "e&m" => "E&M",
        "e&me1" => "E&M-E1",
        "bchan" => "Clear",
        _ => "",
    }
}

/// Channels DAHDI has configured (sysfs `sig` other than `Unconfigured`) with other
/// signalling than the profile's system.conf gives them.
fn configured(profile: &Profile, g: &Group, inv: &Inventory, out: &mut Vec<Mismatch>) {
    let span = g
        .span
        .and_then(|n| profile.spans.iter().find(|s| s.number == n));
    let keyword = crate::system_conf::keyword(g, span);
    let want = sig_name(keyword);
    // machine sig → channels, in channel order.
    let mut wrong: Vec<(String, Vec<u32>)> = Vec::new();
    for &c in &g.channels {
        let Some(sig) = inv
            .spans
            .iter()
            .flat_map(|s| s.channel_info.iter())
            .find(|ch| ch.channo == c)
            .and_then(|ch| ch.sig.as_deref())
        else {
            continue;
        };
        if sig == want || sig == "Unconfigured" || sig.is_empty() {
            continue;
        }
        match wrong.iter_mut().find(|(s, _)| s == sig) {
            Some((_, list)) => list.push(c),
            None => wrong.push((sig.to_string(), vec![c])),
        }
    }
    out.extend(
        wrong
            .into_iter()
            .map(|(machine, channels)| Mismatch::Signalling {
                group: g.name.clone(),
                channels,
                machine,
                profile: keyword,
            }),
    );
}

fn nodes(profile: &Profile, roots: &Roots, out: &mut Vec<Mismatch>) {
    let root = roots.dahdi_root(&profile.dahdi.root);
    if !root.exists() {
        out.push(Mismatch::NoDahdiRoot { path: root });
        return;
    }
    for n in ["ctl", "channel"] {
        let path = root.join(n);
        if !path.exists() {
            out.push(Mismatch::MissingNode {
                channel: None,
                path,
            });
        }
    }
    for s in &profile.spans {
        let mut wanted: Vec<u32> = profile
            .groups
            .iter()
            .flat_map(|g| g.channels.iter().copied())
            .filter(|&c| s.contains(c))
            .chain(s.dchannel)
            .collect();
        wanted.sort_unstable();
        let dir = root.join(format!("chan/{:03}", s.number));
        let missing: Vec<(u32, PathBuf)> = wanted
            .iter()
            .filter_map(|&c| {
                let path = dir.join(format!("{:03}", s.position(c)?));
                (!path.exists()).then_some((c, path))
            })
            .collect();
        if missing.len() > 1 && missing.len() == wanted.len() {
            out.push(Mismatch::MissingSpanNodes {
                span: s.number,
                dir,
                channels: wanted,
            });
        } else {
            out.extend(missing.into_iter().map(|(c, path)| Mismatch::MissingNode {
                channel: Some(c),
                path,
            }));
        }
    }
}

fn span(s: &Span, inv: &Inventory, out: &mut Vec<Mismatch>) {
    let Some(m) = inv.span(s.number) else {
        out.push(Mismatch::MissingSpan {
            span: s.number,
            profile: s.kind,
            machine: inv.spans.iter().map(|m| m.number).collect(),
        });
        return;
    };
    let kind_fits = match m.span_type() {
        SpanType::AnalogFxs | SpanType::AnalogFxo | SpanType::AnalogMixed => {
            s.kind == SpanKind::Analog
        }
        SpanType::T1 => s.kind == SpanKind::T1,
        SpanType::E1 => s.kind == SpanKind::E1,
        SpanType::Other => false,
    };
    if !kind_fits {
        out.push(Mismatch::SpanKind {
            span: s.number,
            profile: s.kind,
            machine: m.spantype.clone().unwrap_or_else(|| "unknown".into()),
            label: m.label(),
        });
        return;
    }
    if m.basechan != Some(s.first_channel) || m.channels != Some(s.channels) {
        let r = s.channel_range();
        out.push(Mismatch::SpanChannels {
            span: s.number,
            profile: (*r.start(), *r.end()),
            machine: (m.basechan, m.channels),
        });
    }
    let (Some(framing), Some(coding)) = (s.framing, s.coding) else {
        return;
    };
    let mut wanted = vec![
        (
            framing.as_str(),
            match framing {
                Framing::D4 => line::D4,
                Framing::Esf => line::ESF,
                Framing::Ccs => line::CCS,
                Framing::Cas => 0,
            },
        ),
        (
            coding.as_str(),
            match coding {
                Coding::Ami => line::AMI,
                Coding::B8zs => line::B8ZS,
                Coding::Hdb3 => line::HDB3,
            },
        ),
    ];
    if s.crc4 {
        wanted.push(("crc4", line::CRC4));
    }
    if let Some(compat) = m.linecompat.filter(|&c| c != 0) {
        for (what, bit) in &wanted {
            if *bit != 0 && compat & bit == 0 {
                out.push(Mismatch::LineUnsupported {
                    span: s.number,
                    what: (*what).to_string(),
                    linecompat: compat,
                });
            }
        }
    }
    if let Some(lc) = m.lineconfig.filter(|&c| c != 0) {
        let profile_text = line_text(s.kind, framing, coding, s.crc4);
        let machine_text = decode_lineconfig(s.kind, lc);
        if profile_text != machine_text {
            out.push(Mismatch::LineConfig {
                span: s.number,
                profile: profile_text,
                machine: machine_text,
                lineconfig: lc,
            });
        }
    }
}

fn line_text(kind: SpanKind, framing: Framing, coding: Coding, crc4: bool) -> String {
    let crc = if kind == SpanKind::E1 && crc4 {
        "/crc4"
    } else {
        ""
    };
    format!("{framing}/{coding}{crc}")
}

fn decode_lineconfig(kind: SpanKind, lc: u32) -> String {
    let framing = if kind == SpanKind::T1 {
        if lc & line::ESF != 0 {
            "esf"
        } else if lc & line::D4 != 0 {
            "d4"
        } else {
            "?"
        }
    } else if lc & line::CCS != 0 {
        "ccs"
    } else {
        "cas"
    };
    let coding = if lc & line::B8ZS != 0 {
        "b8zs"
    } else if lc & line::HDB3 != 0 {
        "hdb3"
    } else if lc & line::AMI != 0 {
        "ami"
    } else {
        "?"
    };
    let crc = if kind == SpanKind::E1 && lc & line::CRC4 != 0 {
        "/crc4"
    } else {
        ""
    };
    format!("{framing}/{coding}{crc}")
}

fn ports(g: &Group, inv: &Inventory, out: &mut Vec<Mismatch>) {
    // (machine kind, source) → channels, in channel order.
    let mut wrong: Vec<(PortKind, &'static str, Vec<u32>)> = Vec::new();
    for &c in &g.channels {
        let Some(m) = inv.spans.iter().find(|m| match (m.basechan, m.channels) {
            (Some(b), Some(n)) => c >= b && c - b < n,
            _ => false,
        }) else {
            continue;
        };
        let Some((kind, source)) = m.port_kind(c) else {
            continue;
        };
        if kind == g.kind {
            continue;
        }
        match wrong
            .iter_mut()
            .find(|(k, s, _)| *k == kind && *s == source)
        {
            Some((_, _, list)) => list.push(c),
            None => wrong.push((kind, source, vec![c])),
        }
    }
    out.extend(
        wrong
            .into_iter()
            .map(|(machine, source, channels)| Mismatch::PortKind {
                group: g.name.clone(),
                channels,
                machine,
                source,
                profile: g.kind,
            }),
    );
}
