//! Reading a profile: TOML into raw, position-carrying structs, then checked into a
//! [`Profile`] one rule at a time, each failure naming file, line, column and key.

use crate::channels;
use crate::error::ProfileError;
use crate::profile::*;
use serde::Deserialize;
use std::collections::HashMap;
use std::ops::Range;
use std::path::PathBuf;
use toml::Spanned;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProfile {
    board: Spanned<RawBoard>,
    dahdi: Option<Spanned<RawDahdi>>,
    #[serde(default)]
    span: Vec<Spanned<RawSpan>>,
    #[serde(default)]
    group: Vec<Spanned<RawGroup>>,
    sip: Option<Spanned<RawSip>>,
    sim: Option<Spanned<RawSim>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBoard {
    name: Spanned<String>,
    #[serde(default)]
    description: Option<Spanned<String>>,
    hardware: Spanned<String>,
    country: Spanned<String>,
    law: Option<Spanned<String>>,
    caller_id: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDahdi {
    root: Option<Spanned<String>>,
    sysfs: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSpan {
    number: Spanned<u32>,
    kind: Spanned<String>,
    channels: Option<Spanned<u32>>,
    first_channel: Option<Spanned<u32>>,
    framing: Option<Spanned<String>>,
    coding: Option<Spanned<String>>,
    crc4: Option<Spanned<bool>>,
    lbo: Option<Spanned<u8>>,
    timing: Option<Spanned<u8>>,
    dchannel: Option<Spanned<u32>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroup {
    name: Spanned<String>,
    kind: Spanned<String>,
    channels: Spanned<toml::Value>,
    span: Option<Spanned<u32>>,
    signalling: Spanned<String>,
    echo_tail_ms: Option<Spanned<u32>>,
    echo_canceller: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSip {
    channels: Spanned<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSim {
    phones: Spanned<u32>,
    trunks: Spanned<u32>,
}

/// The text being parsed, for positions.
struct Cx<'a> {
    file: &'a str,
    text: &'a str,
}

impl Cx<'_> {
    fn err(&self, span: Range<usize>, message: String) -> ProfileError {
        ProfileError::at(self.file, self.text, span.start, message)
    }

    /// Looks a name up in one of the profile's closed sets.
    fn name<T>(
        &self,
        key: &str,
        value: &Spanned<String>,
        names: &[&str],
        from: impl Fn(&str) -> Option<T>,
    ) -> Result<T, ProfileError> {
        from(value.get_ref()).ok_or_else(|| {
            self.err(
                value.span(),
                format!("{key}: {:?}: expected {}", value.get_ref(), or_list(names)),
            )
        })
    }
}

/// `a, b or c`.
fn or_list(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => (*one).to_string(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

pub(crate) fn parse(file: &str, text: &str) -> Result<Profile, ProfileError> {
    let cx = Cx { file, text };
    let raw: RawProfile = toml::from_str(text).map_err(|e| {
        let span = e.span().unwrap_or(0..0);
        cx.err(span, e.message().trim().to_string())
    })?;

    let b = raw.board.get_ref();
    let name = b.name.get_ref().clone();
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(cx.err(
            b.name.span(),
            format!("board.name: {name:?}: use letters, digits, '-', '_' and '.' only"),
        ));
    }
    let hardware = cx.name(
        "board.hardware",
        &b.hardware,
        Hardware::NAMES,
        Hardware::from_name,
    )?;
    let country = b.country.get_ref().clone();
    if !COUNTRIES.contains(&country.as_str()) {
        return Err(cx.err(
            b.country.span(),
            format!(
                "board.country: {country:?}: Tipring has tone plans for {}",
                or_list(COUNTRIES)
            ),
        ));
    }
    let law = match &b.law {
        Some(l) => cx.name("board.law", l, Law::NAMES, Law::from_name)?,
        None => Law::default_for(&country),
    };
    let caller_id = cx.name(
        "board.caller_id",
        &b.caller_id,
        CallerIdStandard::NAMES,
        CallerIdStandard::from_name,
    )?;

    let mut dahdi = DahdiPaths::default();
    if let Some(d) = &raw.dahdi {
        if hardware == Hardware::Sim {
            return Err(cx.err(
                d.span(),
                "dahdi: a hardware = \"sim\" profile has no DAHDI paths; remove [dahdi]".into(),
            ));
        }
        for (key, value, slot) in [
            ("dahdi.root", &d.get_ref().root, &mut dahdi.root),
            ("dahdi.sysfs", &d.get_ref().sysfs, &mut dahdi.sysfs),
        ] {
            if let Some(v) = value {
                if !v.get_ref().starts_with('/') {
                    return Err(cx.err(
                        v.span(),
                        format!("{key}: {:?}: give an absolute path", v.get_ref()),
                    ));
                }
                *slot = PathBuf::from(v.get_ref());
            }
        }
    }

    let sip = match &raw.sip {
        Some(s) => {
            let n = &s.get_ref().channels;
            if !(1..=MAX_SLOTS).contains(n.get_ref()) {
                return Err(cx.err(
                    n.span(),
                    format!("sip.channels: {}: expected 1..={MAX_SLOTS}", n.get_ref()),
                ));
            }
            Some(SipSection {
                channels: *n.get_ref(),
            })
        }
        None => None,
    };

    let mut profile = Profile {
        name,
        description: b
            .description
            .as_ref()
            .map(|d| d.get_ref().clone())
            .unwrap_or_default(),
        hardware,
        country,
        law,
        caller_id,
        dahdi,
        spans: Vec::new(),
        groups: Vec::new(),
        sip,
        sim: None,
    };

    match hardware {
        Hardware::Sim => {
            if let Some(s) = raw.span.first() {
                return Err(cx.err(
                    s.span(),
                    "span[0]: a hardware = \"sim\" profile has no spans; its ports are [sim] phones and trunks".into(),
                ));
            }
            if let Some(g) = raw.group.first() {
                return Err(cx.err(
                    g.span(),
                    "group[0]: a hardware = \"sim\" profile has no groups; its ports are [sim] phones and trunks".into(),
                ));
            }
            let Some(sim) = &raw.sim else {
                return Err(cx.err(
                    raw.board.span(),
                    "board.hardware: \"sim\" needs a [sim] section with phones and trunks".into(),
                ));
            };
            let (phones, trunks) = (&sim.get_ref().phones, &sim.get_ref().trunks);
            let total = u64::from(*phones.get_ref()) + u64::from(*trunks.get_ref());
            if total == 0 || total > u64::from(MAX_SLOTS) {
                return Err(cx.err(
                    phones.span(),
                    format!("sim: phones + trunks is {total}; expected 1..={MAX_SLOTS}"),
                ));
            }
            profile.sim = Some(SimSection {
                phones: *phones.get_ref(),
                trunks: *trunks.get_ref(),
            });
        }
        Hardware::Dahdi => {
            if let Some(s) = &raw.sim {
                return Err(cx.err(
                    s.span(),
                    "sim: [sim] is for hardware = \"sim\"; a DAHDI profile lists [[span]] and [[group]]".into(),
                ));
            }
            if raw.span.is_empty() {
                return Err(cx.err(
                    raw.board.span(),
                    "span: a hardware = \"dahdi\" profile lists its spans ([[span]]: an analog card is one span, each T1/E1 port another)".into(),
                ));
            }
            if raw.group.is_empty() {
                return Err(cx.err(
                    raw.board.span(),
                    "group: a hardware = \"dahdi\" profile lists its channel groups ([[group]])"
                        .into(),
                ));
            }
            profile.spans = spans(&cx, &raw.span)?;
            profile.groups = groups(&cx, &raw.group, &profile.spans)?;
        }
    }
    Ok(profile)
}

fn spans(cx: &Cx<'_>, raw: &[Spanned<RawSpan>]) -> Result<Vec<Span>, ProfileError> {
    let mut out: Vec<Span> = Vec::with_capacity(raw.len());
    // Clock priorities taken: priority → span number.
    let mut timings: HashMap<u8, u32> = HashMap::new();
    for (i, whole) in raw.iter().enumerate() {
        let s = whole.get_ref();
        let key = |k: &str| format!("span[{i}].{k}");
        let number = *s.number.get_ref();
        if !(1..=MAX_SPAN).contains(&number) {
            return Err(cx.err(
                s.number.span(),
                format!("{}: {number}: expected 1..={MAX_SPAN}", key("number")),
            ));
        }
        let prev = out.last();
        if let Some(p) = prev
            && number <= p.number
        {
            return Err(cx.err(
                s.number.span(),
                format!(
                    "{}: {number}: list the spans once each, in ascending order (span[{}] is span {})",
                    key("number"),
                    i - 1,
                    p.number
                ),
            ));
        }
        let kind = cx.name(&key("kind"), &s.kind, SpanKind::NAMES, SpanKind::from_name)?;

        let channels = match (kind.fixed_channels(), &s.channels) {
            (Some(fixed), Some(c)) if *c.get_ref() != fixed => {
                return Err(cx.err(
                    c.span(),
                    format!(
                        "{}: {}: a{} {} span has {fixed} channels",
                        key("channels"),
                        c.get_ref(),
                        if kind == SpanKind::E1 { "n" } else { "" },
                        kind.label()
                    ),
                ));
            }
            (Some(fixed), _) => fixed,
            (None, Some(c)) => {
                if !(1..=MAX_CHANNEL).contains(c.get_ref()) {
                    return Err(cx.err(
                        c.span(),
                        format!(
                            "{}: {}: expected 1..={MAX_CHANNEL}",
                            key("channels"),
                            c.get_ref()
                        ),
                    ));
                }
                *c.get_ref()
            }
            (None, None) => {
                return Err(cx.err(
                    s.kind.span(),
                    format!(
                        "{}: missing; an analog span has as many channels as the card has ports (4, 8, 24…)",
                        key("channels")
                    ),
                ));
            }
        };

        // Where the span's channels start: DAHDI numbers spans' channels one after the
        // other, so by default right after the previous span's.
        let next_free = prev.map_or(1, |p| p.first_channel + p.channels);
        let first_channel = match &s.first_channel {
            Some(f) => {
                let f_val = *f.get_ref();
                if f_val < next_free || f_val == 0 {
                    let why = match prev {
                        Some(p) => format!(
                            "span {} already runs to channel {}",
                            p.number,
                            next_free - 1
                        ),
                        None => "channels are numbered from 1".into(),
                    };
                    return Err(cx.err(
                        f.span(),
                        format!("{}: {f_val}: {why}", key("first_channel")),
                    ));
                }
                f_val
            }
            None => {
                let contiguous = prev.map_or(number == 1, |p| number == p.number + 1);
                if !contiguous {
                    let gap = match prev {
                        Some(p) => {
                            format!("span {number} does not directly follow span {}", p.number)
                        }
                        None => format!("span {number} is listed first, but spans start at 1"),
                    };
                    return Err(cx.err(
                        s.number.span(),
                        format!(
                            "{}: {gap}, so its first channel is not known: give first_channel (DAHDI's basechan for the span)",
                            key("first_channel"),
                        ),
                    ));
                }
                next_free
            }
        };
        if u64::from(first_channel) + u64::from(channels) - 1 > u64::from(MAX_CHANNEL) {
            return Err(cx.err(
                whole.span(),
                format!(
                    "span[{i}]: channels {first_channel}-{} run past channel {MAX_CHANNEL}",
                    u64::from(first_channel) + u64::from(channels) - 1
                ),
            ));
        }

        let framing = s
            .framing
            .as_ref()
            .map(|f| {
                cx.name(&key("framing"), f, Framing::NAMES, Framing::from_name)
                    .map(|v| (v, f))
            })
            .transpose()?;
        let coding = s
            .coding
            .as_ref()
            .map(|c| {
                cx.name(&key("coding"), c, Coding::NAMES, Coding::from_name)
                    .map(|v| (v, c))
            })
            .transpose()?;
        let crc4 = s.crc4.as_ref().is_some_and(|c| *c.get_ref());
        let lbo = s.lbo.as_ref().map_or(0, |l| *l.get_ref());
        let timing = s.timing.as_ref().map_or(0, |t| *t.get_ref());

        match kind {
            SpanKind::Analog => {
                let digital_only: [(&str, Option<Range<usize>>); 5] = [
                    ("framing", s.framing.as_ref().map(Spanned::span)),
                    ("coding", s.coding.as_ref().map(Spanned::span)),
                    ("crc4", s.crc4.as_ref().map(Spanned::span)),
                    ("lbo", s.lbo.as_ref().map(Spanned::span)),
                    ("dchannel", s.dchannel.as_ref().map(Spanned::span)),
                ];
                if let Some((k, Some(at))) = digital_only.into_iter().find(|(_, at)| at.is_some()) {
                    return Err(cx.err(
                        at,
                        format!(
                            "{}: an analog span has no {k}; it is a T1/E1 setting",
                            key(k)
                        ),
                    ));
                }
                if let Some(t) = &s.timing
                    && *t.get_ref() != 0
                {
                    return Err(cx.err(
                        t.span(),
                        format!(
                            "{}: {}: an analog span is never a clock source here; only T1/E1 spans take timing",
                            key("timing"),
                            t.get_ref()
                        ),
                    ));
                }
            }
            SpanKind::T1 | SpanKind::E1 => {
                let t1 = kind == SpanKind::T1;
                let (want_framing, want_coding) = if t1 {
                    ("d4 or esf", "ami or b8zs")
                } else {
                    ("cas or ccs", "ami or hdb3")
                };
                let Some((f, f_at)) = framing else {
                    return Err(cx.err(
                        s.kind.span(),
                        format!(
                            "{}: missing; a {} span takes {want_framing}",
                            key("framing"),
                            kind.label()
                        ),
                    ));
                };
                let f_fits = if t1 {
                    matches!(f, Framing::D4 | Framing::Esf)
                } else {
                    matches!(f, Framing::Cas | Framing::Ccs)
                };
                if !f_fits {
                    return Err(cx.err(
                        f_at.span(),
                        format!(
                            "{}: {:?} is {} framing; a{} {} span takes {want_framing}",
                            key("framing"),
                            f.as_str(),
                            if t1 { "E1" } else { "T1" },
                            if t1 { "" } else { "n" },
                            kind.label()
                        ),
                    ));
                }
                let Some((c, c_at)) = coding else {
                    return Err(cx.err(
                        s.kind.span(),
                        format!(
                            "{}: missing; a{} {} span takes {want_coding}",
                            key("coding"),
                            if t1 { "" } else { "n" },
                            kind.label()
                        ),
                    ));
                };
                let c_fits = match c {
                    Coding::Ami => true,
                    Coding::B8zs => t1,
                    Coding::Hdb3 => !t1,
                };
                if !c_fits {
                    return Err(cx.err(
                        c_at.span(),
                        format!(
                            "{}: {:?} is {} line coding; a{} {} span takes {want_coding}",
                            key("coding"),
                            c.as_str(),
                            if t1 { "E1" } else { "T1" },
                            if t1 { "" } else { "n" },
                            kind.label()
                        ),
                    ));
                }
                if t1
                    && let Some(at) = &s.crc4
                    && crc4
                {
                    return Err(cx.err(
                        at.span(),
                        format!(
                            "{}: CRC-4 is an E1 option; a T1 span has none (ESF carries its own CRC-6)",
                            key("crc4")
                        ),
                    ));
                }
                if let Some(l) = &s.lbo
                    && lbo > 7
                {
                    return Err(cx.err(
                        l.span(),
                        format!("{}: {lbo}: line build-out is 0..=7 (0 = 0 dB)", key("lbo")),
                    ));
                }
                if let Some(t) = &s.timing
                    && timing != 0
                    && let Some(other) = timings.insert(timing, number)
                {
                    return Err(cx.err(
                        t.span(),
                        format!(
                            "{}: {timing}: span {other} already has clock priority {timing}; give each clock source its own",
                            key("timing")
                        ),
                    ));
                }
                if let Some(d) = &s.dchannel {
                    let d_val = *d.get_ref();
                    let (slot, want) = if t1 {
                        (24, first_channel + 23)
                    } else {
                        (16, first_channel + 15)
                    };
                    if d_val != want {
                        return Err(cx.err(
                            d.span(),
                            format!(
                                "{}: {d_val}: a{} {} span's D-channel is its channel {slot}, DAHDI channel {want} here",
                                key("dchannel"),
                                if t1 { "" } else { "n" },
                                kind.label()
                            ),
                        ));
                    }
                    let pri_framing = if t1 { Framing::Esf } else { Framing::Ccs };
                    if f != pri_framing {
                        return Err(cx.err(
                            f_at.span(),
                            format!(
                                "{}: {:?}: a PRI span (one with a dchannel) is framed {}",
                                key("framing"),
                                f.as_str(),
                                pri_framing.as_str()
                            ),
                        ));
                    }
                }
            }
        }

        out.push(Span {
            number,
            kind,
            framing: framing.map(|(f, _)| f),
            coding: coding.map(|(c, _)| c),
            crc4,
            lbo,
            timing,
            dchannel: s.dchannel.as_ref().map(|d| *d.get_ref()),
            channels,
            first_channel,
        });
    }
    Ok(out)
}

fn groups(
    cx: &Cx<'_>,
    raw: &[Spanned<RawGroup>],
    spans: &[Span],
) -> Result<Vec<Group>, ProfileError> {
    let mut out: Vec<Group> = Vec::with_capacity(raw.len());
    // Channel → index of the group that has it.
    let mut taken: HashMap<u32, usize> = HashMap::new();
    for (i, whole) in raw.iter().enumerate() {
        let g = whole.get_ref();
        let key = |k: &str| format!("group[{i}].{k}");
        let name = g.name.get_ref().clone();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
        {
            return Err(cx.err(
                g.name.span(),
                format!(
                    "{}: {name:?}: use letters, digits, '-' and '_' only",
                    key("name")
                ),
            ));
        }
        if let Some(j) = out.iter().position(|o| o.name == name) {
            return Err(cx.err(
                g.name.span(),
                format!("{}: {name:?} is already group[{j}]'s name", key("name")),
            ));
        }
        let kind = cx.name(&key("kind"), &g.kind, PortKind::NAMES, PortKind::from_name)?;
        let signalling = cx.name(
            &key("signalling"),
            &g.signalling,
            Signalling::NAMES,
            Signalling::from_name,
        )?;

        let ch_at = g.channels.span();
        let list = match g.channels.get_ref() {
            toml::Value::String(s) => channels::parse_list(s),
            toml::Value::Integer(n) => channels::from_numbers(&[*n]),
            toml::Value::Array(items) => items
                .iter()
                .map(|v| v.as_integer().ok_or(()))
                .collect::<Result<Vec<i64>, ()>>()
                .map_err(|()| {
                    "write channels as a string like \"1-4,7\" or a list of numbers [1, 2, 3]"
                        .to_string()
                })
                .and_then(|ns| channels::from_numbers(&ns)),
            _ => Err(
                "write channels as a string like \"1-4,7\" or a list of numbers [1, 2, 3]".into(),
            ),
        };
        let list = list.map_err(|m| cx.err(ch_at.clone(), format!("{}: {m}", key("channels"))))?;

        // Which span each channel is on.
        let span_of = |c: u32| spans.iter().find(|s| s.contains(c));
        let mut span = None;
        if let Some(n) = &g.span {
            let Some(s) = spans.iter().find(|s| s.number == *n.get_ref()) else {
                return Err(cx.err(
                    n.span(),
                    format!(
                        "{}: {}: the profile has no span {}",
                        key("span"),
                        n.get_ref(),
                        n.get_ref()
                    ),
                ));
            };
            if let Some(&c) = list.iter().find(|&&c| !s.contains(c)) {
                return Err(cx.err(
                    ch_at,
                    format!(
                        "{}: channel {c} is not on span {}, which has {}",
                        key("channels"),
                        s.number,
                        range_text(s)
                    ),
                ));
            }
            span = Some(s);
        }
        let mut on: Vec<&Span> = Vec::new();
        for &c in &list {
            let Some(s) = span_of(c) else {
                let have: Vec<String> = spans
                    .iter()
                    .map(|s| format!("span {} has {}", s.number, range_text(s)))
                    .collect();
                return Err(cx.err(
                    ch_at,
                    format!(
                        "{}: channel {c} is on no span of the profile ({})",
                        key("channels"),
                        have.join(", ")
                    ),
                ));
            };
            if !on.iter().any(|o| o.number == s.number) {
                on.push(s);
            }
        }
        for s in &on {
            let fits = match s.kind {
                SpanKind::Analog => kind.is_analog(),
                SpanKind::T1 => kind == PortKind::T1,
                SpanKind::E1 => kind == PortKind::E1,
            };
            if !fits {
                let want = match s.kind {
                    SpanKind::Analog => "kind = \"fxs\" (phones) or \"fxo\" (exchange lines)",
                    SpanKind::T1 => "kind = \"t1\"",
                    SpanKind::E1 => "kind = \"e1\"",
                };
                return Err(cx.err(
                    g.kind.span(),
                    format!(
                        "{}: {:?}, but the channels are on span {}, {} span; its groups are {want}",
                        key("kind"),
                        kind.as_str(),
                        s.number,
                        match s.kind {
                            SpanKind::Analog => "an analog",
                            SpanKind::T1 => "a T1",
                            SpanKind::E1 => "an E1",
                        }
                    ),
                ));
            }
        }
        if span.is_none() && on.len() == 1 {
            span = on.first().copied();
        }
        if !kind.is_analog() && on.len() > 1 {
            return Err(cx.err(
                ch_at,
                format!(
                    "{}: the channels are on spans {} and {}; a T1/E1 group stays on one span (make one group per span)",
                    key("channels"),
                    on[0].number,
                    on[1].number
                ),
            ));
        }
        for &c in &list {
            let Some(s) = span_of(c) else { continue };
            if s.dchannel == Some(c) {
                return Err(cx.err(
                    ch_at,
                    format!(
                        "{}: channel {c} is span {}'s D-channel; leave it out of voice groups",
                        key("channels"),
                        s.number
                    ),
                ));
            }
            if s.kind == SpanKind::E1
                && s.framing == Some(Framing::Cas)
                && s.position(c) == Some(16)
            {
                return Err(cx.err(
                    ch_at,
                    format!(
                        "{}: channel {c} is timeslot 16 of span {}, which carries the CAS signalling; leave it out",
                        key("channels"),
                        s.number
                    ),
                ));
            }
            if let Some(&j) = taken.get(&c) {
                return Err(cx.err(
                    ch_at,
                    format!(
                        "{}: channel {c} is already in group {:?}",
                        key("channels"),
                        out.get(j).map_or("", |o| o.name.as_str())
                    ),
                ));
            }
        }

        // Signalling must fit the ports and the span's framing.
        if kind.is_analog() && !signalling.is_analog() {
            return Err(cx.err(
                g.signalling.span(),
                format!(
                    "{}: {:?} is T1/E1 signalling; analog ports take kewlstart, loopstart or groundstart",
                    key("signalling"),
                    signalling.as_str()
                ),
            ));
        }
        if !kind.is_analog() {
            if signalling.is_analog() {
                return Err(cx.err(
                    g.signalling.span(),
                    format!(
                        "{}: {:?} is analog signalling; T1/E1 groups take clear (PRI B-channels), em-wink, fxs-loopstart or fxo-loopstart",
                        key("signalling"),
                        signalling.as_str()
                    ),
                ));
            }
            if let Some(s) = on.first() {
                if signalling == Signalling::Clear && s.dchannel.is_none() {
                    return Err(cx.err(
                        g.signalling.span(),
                        format!(
                            "{}: \"clear\" B-channels need a PRI span, and span {} has no dchannel",
                            key("signalling"),
                            s.number
                        ),
                    ));
                }
                if signalling.is_cas() {
                    if s.dchannel.is_some() {
                        return Err(cx.err(
                            g.signalling.span(),
                            format!(
                                "{}: {:?}: span {} is a PRI span (it has a dchannel); its voice channels are signalling = \"clear\"",
                                key("signalling"),
                                signalling.as_str(),
                                s.number
                            ),
                        ));
                    }
                    if s.kind == SpanKind::E1 && s.framing != Some(Framing::Cas) {
                        return Err(cx.err(
                            g.signalling.span(),
                            format!(
                                "{}: {:?} on an E1 needs framing = \"cas\", and span {} is framed ccs",
                                key("signalling"),
                                signalling.as_str(),
                                s.number
                            ),
                        ));
                    }
                }
            }
        }

        let echo_tail_ms = match &g.echo_tail_ms {
            Some(t) => {
                if !ECHO_TAILS_MS.contains(t.get_ref()) {
                    return Err(cx.err(
                        t.span(),
                        format!(
                            "{}: {}: expected 0 (off), 32, 64 or 128",
                            key("echo_tail_ms"),
                            t.get_ref()
                        ),
                    ));
                }
                *t.get_ref()
            }
            None if kind.is_analog() => 64,
            None => 0,
        };
        let echo_canceller = match &g.echo_canceller {
            Some(e) => EchoCanceller::from_name(e.get_ref()).ok_or_else(|| {
                cx.err(
                    e.span(),
                    format!(
                        "{}: {:?}: expected \"tipring\" (Tipring's own, in user space) or \
                         \"hardware\" (the card's)",
                        key("echo_canceller"),
                        e.get_ref()
                    ),
                )
            })?,
            None => EchoCanceller::Tipring,
        };

        for &c in &list {
            taken.insert(c, i);
        }
        out.push(Group {
            name,
            kind,
            channels: list,
            span: span.map(|s| s.number),
            signalling,
            echo_tail_ms,
            echo_canceller,
        });
    }
    Ok(out)
}

fn range_text(s: &Span) -> String {
    let r = s.channel_range();
    if r.start() == r.end() {
        format!("channel {}", r.start())
    } else {
        format!("channels {}-{}", r.start(), r.end())
    }
}
